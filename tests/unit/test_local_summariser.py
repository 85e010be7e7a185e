"""The local language model: extractive, deterministic, every statement quoted from its pages."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC

import pytest
from pypdf import PdfReader

from docquery.adapters.local.summariser import LocalLanguageModel
from docquery.domain.processing import SUMMARY_SECTIONS, Summary
from docquery.domain.reading import PageReading
from docquery.services.artifacts import reading_of_text
from support.pdfs import SAMPLE_PDFS

DISCHARGE = [
    """DISCHARGE SUMMARY
Patient: John Example, 67-year-old male.
The patient was admitted with fever, productive cough and shortness of breath for four days.
Hospital course:
He was treated with intravenous antibiotics and supplemental oxygen and improved steadily.
Chest X-ray showed right lower lobe consolidation.
White blood cell count was elevated at 15.2 x10^9/L on admission.
Blood cultures were nega-
tive after two days of incubation.
1
""",
    """Diagnoses:
1. Community-acquired pneumonia, right lower lobe (J18.1).
2. Type 2 diabetes mellitus, poorly controlled.
3. Essential hypertension.
Discharge medications:
- Amoxicillin-clavulanate 875 mg by mouth twice daily for 5 more days.
- Metformin 1000 mg twice daily with meals.
- Lisinopril 10 mg once daily.
Page 2 of 3
""",
    """Follow-up:
Follow up with the primary care physician in 1 week.
Repeat chest X-ray in 6 weeks to confirm resolution of the consolidation.
Return to the emergency department if fever, chest pain or breathlessness recurs.
""",
]


def discharge_pages() -> list[PageReading]:
    return [reading_of_text(n, text) for n, text in enumerate(DISCHARGE, start=1)]


def pdf_pages(name: str) -> list[PageReading]:
    reader = PdfReader(SAMPLE_PDFS / name)
    return [reading_of_text(n, page.extract_text()) for n, page in enumerate(reader.pages, start=1)]


def squash(text: str) -> str:
    """Letters and digits only: line breaks, hyphenation and spacing do not count."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text)).casefold()


def texts(summary: Summary, section: str) -> list[str]:
    found = {s.name: s for s in summary.sections}
    return [statement.text for statement in found[section].statements] if section in found else []


async def test_a_discharge_summary_is_sorted_into_clinical_sections() -> None:
    summary = await LocalLanguageModel().summarise(discharge_pages())
    assert [s.name for s in summary.sections] == list(SUMMARY_SECTIONS)
    assert texts(summary, "medications") == [
        "Amoxicillin-clavulanate 875 mg by mouth twice daily for 5 more days.",
        "Metformin 1000 mg twice daily with meals.",
        "Lisinopril 10 mg once daily.",
    ]
    assert "Community-acquired pneumonia, right lower lobe (J18.1)." in texts(summary, "diagnoses")
    assert "Essential hypertension." in texts(summary, "diagnoses")
    assert "Chest X-ray showed right lower lobe consolidation." in texts(summary, "findings")
    assert "Follow up with the primary care physician in 1 week." in texts(summary, "follow_up")
    assert "Repeat chest X-ray in 6 weeks to confirm resolution of the consolidation." in texts(
        summary, "follow_up"
    )
    assert any("admitted with fever" in text for text in texts(summary, "overview"))


async def test_sections_cite_the_pages_their_statements_are_on() -> None:
    summary = await LocalLanguageModel().summarise(discharge_pages())
    pages = {s.name: {p for st in s.statements for p in st.pages} for s in summary.sections}
    assert pages["medications"] == {2}
    assert pages["diagnoses"] == {2}
    assert pages["follow_up"] == {3}
    assert pages["findings"] == {1}


async def test_words_broken_over_lines_are_joined_and_page_numbers_left_out() -> None:
    summary = await LocalLanguageModel().summarise(discharge_pages())
    every = [st.text for s in summary.sections for st in s.statements]
    assert "Blood cultures were negative after two days of incubation." in every
    assert not any("Page 2 of 3" in text for text in every)


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param(discharge_pages(), id="discharge"),
        pytest.param(pdf_pages("pdflatex-4-pages.pdf"), id="pdflatex-4-pages"),
        pytest.param(pdf_pages("google-doc-document.pdf"), id="google-doc"),
    ],
)
async def test_every_statement_is_quoted_from_each_page_it_cites(pages: list[PageReading]) -> None:
    summary = await LocalLanguageModel().summarise(pages)
    by_number = {page.number: squash(page.text) for page in pages}
    statements = [st for s in summary.sections for st in s.statements]
    assert statements, "a document with text has a summary"
    for statement in statements:
        assert statement.pages, statement
        assert list(statement.pages) == sorted(set(statement.pages))
        for number in statement.pages:
            assert squash(statement.text) in by_number[number], (statement, number)


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param(discharge_pages(), id="discharge"),
        pytest.param(pdf_pages("pdflatex-4-pages.pdf"), id="pdflatex-4-pages"),
    ],
)
async def test_no_statement_twice_and_document_order_within_sections(
    pages: list[PageReading],
) -> None:
    summary = await LocalLanguageModel().summarise(pages)
    every = [st.text for s in summary.sections for st in s.statements]
    assert len(every) == len(set(every))
    position = {text: squash("".join(p.text for p in pages)).find(squash(text)) for text in every}
    for section in summary.sections:
        found = [position[st.text] for st in section.statements]
        assert found == sorted(found), section.name


async def test_a_sentence_repeated_on_several_pages_cites_them_all() -> None:
    pages = pdf_pages("pdflatex-4-pages.pdf")
    summary = await LocalLanguageModel().summarise(pages)
    assert any(st.pages == (1, 2, 3, 4) for s in summary.sections for st in s.statements)


async def test_the_same_pages_give_the_same_summary() -> None:
    model = LocalLanguageModel()
    first = await model.summarise(pdf_pages("pdflatex-4-pages.pdf") + discharge_pages())
    second = await model.summarise(pdf_pages("pdflatex-4-pages.pdf") + discharge_pages())
    assert first.sections == second.sections
    assert first.model_id == second.model_id == "docquery-extractive-v1"


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param([], id="no-pages"),
        pytest.param([reading_of_text(1, ""), reading_of_text(2, "  \n\n ")], id="blank"),
        pytest.param([reading_of_text(1, "12 34\n56\n- -\n3")], id="numbers-only"),
    ],
)
async def test_no_usable_text_gives_a_summary_without_sections(pages: list[PageReading]) -> None:
    summary = await LocalLanguageModel().summarise(pages)
    assert summary.sections == ()
    assert summary.model_id == "docquery-extractive-v1"


async def test_the_summary_records_model_id_and_utc_time() -> None:
    summary = await LocalLanguageModel(model_id="extractive-test").summarise(discharge_pages())
    assert summary.model_id == "extractive-test"
    assert summary.created_at.tzinfo is UTC


async def test_a_500_page_document_is_summarised() -> None:
    pages = [
        reading_of_text(
            n,
            f"Day {n} note. Potassium was {3 + n % 20 / 10:.1f} mmol/L on day {n}. "
            f"Patient {n} walked {n % 7 + 1} laps of the ward without chest pain. "
            f"Continue enoxaparin {40 + n % 3 * 20} mg once daily until review {n}.\n"
            + "The ward round discussed progress with the family in detail. "
            * 20,
        )
        for n in range(1, 501)
    ]
    summary = await LocalLanguageModel().summarise(pages)
    names = [s.name for s in summary.sections]
    assert names[0] == "overview"
    assert {"findings", "medications"} <= set(names)
    cited = {p for s in summary.sections for st in s.statements for p in st.pages}
    assert cited <= set(range(1, 501))
    assert all(len(s.statements) <= 8 for s in summary.sections)
