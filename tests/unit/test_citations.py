"""Citation verification: only quotes found in the stored page text survive, with their markers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from docquery.domain.reading import PageReading, PageSource
from docquery.domain.search import Citation, Draft, DraftCitation, Passage
from docquery.services.citations import keep_markers, verify
from docquery.text.answers import NOT_FOUND_ANSWER, normalise

PAGE_3 = (
    "DISCHARGE SUMMARY\n"
    "Potassium was  3.1 mmol/L\non admission and was replaced orally.\n"
    "Blood cultures were negative after two days."
)
PAGE_7 = "Metformin 1000 mg twice daily with meals.\nFollow up in 1 week."
PASSAGES = [
    Passage(1, "doc-a", "Discharge summary", 3, "Potassium was 3.1 mmol/L on admission"),
    Passage(2, "doc-b", "Medication list", 7, PAGE_7),
]
PAGES = {("doc-a", 3): PAGE_3, ("doc-b", 7): PAGE_7}


def check(text: str, *citations: tuple[int, str]) -> tuple[str, list[tuple[int, str]], bool]:
    draft = Draft(text, tuple(DraftCitation(source, quote) for source, quote in citations))
    answer = verify(draft, PASSAGES, PAGES)
    return answer.text, [(c.source, c.quote) for c in answer.citations], answer.grounded


def test_verbatim_quotes_are_kept_with_where_they_come_from() -> None:
    draft = Draft(
        "Potassium was low [1]; metformin continues [2].",
        (
            DraftCitation(1, "Potassium was 3.1 mmol/L on admission"),
            DraftCitation(2, "Metformin 1000 mg twice daily with meals."),
        ),
    )
    answer = verify(draft, PASSAGES, PAGES)
    assert answer.grounded
    assert answer.text == draft.text
    assert answer.citations == (
        Citation(1, "doc-a", "Discharge summary", 3, "Potassium was 3.1 mmol/L on admission"),
        Citation(2, "doc-b", "Medication list", 7, "Metformin 1000 mg twice daily with meals."),
    )


def test_whitespace_and_compatibility_forms_do_not_matter() -> None:
    text, citations, grounded = check(
        "Low [1].", (1, "Potassium\u00a0was 3.1\u2003mmol/L on\n admission"), (1, "ﬁ")
    )
    assert grounded
    assert citations == [(1, "Potassium was 3.1 mmol/L on admission")]
    assert text == "Low [1]."


def test_a_quote_from_the_page_outside_the_passage_excerpt_is_valid() -> None:
    _, citations, grounded = check("Cultures [1].", (1, "Blood cultures were negative"))
    assert grounded
    assert citations == [(1, "Blood cultures were negative")]


@pytest.mark.parametrize(
    ("source", "quote"),
    [
        (1, "Potassium was 3.5 mmol/L on admission"),  # altered
        (1, "Potassium was low on admission"),  # paraphrased
        (2, "Potassium was 3.1 mmol/L on admission"),  # true, but of another source
        (9, "Potassium was 3.1 mmol/L on admission"),  # a source that was not sent
        (1, "mmol/L"),  # too short to prove anything
        (1, "was 3.1"),
        (1, "   "),
    ],
)
def test_a_quote_not_in_its_sources_page_is_dropped(source: int, quote: str) -> None:
    assert check("It was [1].", (source, quote)) == (NOT_FOUND_ANSWER, [], False)


def test_markers_of_sources_without_a_verified_citation_are_removed() -> None:
    text, citations, grounded = check(
        "Potassium was low [1] and stable [2]. Sodium fell [3][1]. Cultures [1, 2, 9].",
        (1, "Potassium was 3.1 mmol/L on admission"),
        (2, "This sentence is not on the page."),
        (3, "Sodium fell sharply overnight."),
    )
    assert grounded
    assert citations == [(1, "Potassium was 3.1 mmol/L on admission")]
    assert text == "Potassium was low [1] and stable. Sodium fell [1]. Cultures [1]."


def test_duplicate_citations_are_kept_once() -> None:
    _, citations, _ = check(
        "Low [1].",
        (1, "Potassium was 3.1 mmol/L on admission"),
        (1, "Potassium was  3.1 mmol/L on admission"),
        (1, "was replaced orally"),
    )
    assert citations == [
        (1, "Potassium was 3.1 mmol/L on admission"),
        (1, "was replaced orally"),
    ]


def test_a_page_missing_from_page_texts_is_checked_against_the_passage() -> None:
    draft = Draft("Low [1].", (DraftCitation(1, "Potassium was 3.1 mmol/L"),))
    assert verify(draft, PASSAGES, {}).grounded
    absent = Draft("Low [1].", (DraftCitation(1, "Blood cultures were negative"),))
    assert not verify(absent, PASSAGES, {}).grounded


def test_no_citations_at_all_is_not_grounded() -> None:
    answer = verify(Draft("Potassium was low.", ()), PASSAGES, PAGES)
    assert (answer.text, answer.citations, answer.grounded) == (NOT_FOUND_ANSWER, (), False)


def test_normalise_collapses_unicode_whitespace_and_applies_nfkc() -> None:
    assert normalise(" a\u00a0\u2009b\t\n c\u3000ﬁ ") == "a b c fi"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Low [2] and stable [1].", "Low and stable [1]."),
        ("Low [2], stable [2] .", "Low, stable."),
        ("Fell [3][1] overnight [2][3]", "Fell [1] overnight"),
        ("Fell [3] [1] and rose [1, 3]", "Fell [1] and rose [1]"),
        ("Low [2]\n- Stable [1]\n  - Rising [2]\n", "Low\n- Stable [1]\n  - Rising"),
        ("[2] Starts with a marker [1]", "Starts with a marker [1]"),
        ("One [1].\n  [2] Two [1].", "One [1].\n  Two [1]."),
        ("Spacing  of the model  stays [1]", "Spacing  of the model  stays [1]"),
    ],
)
def test_marker_cleanup_leaves_no_gaps(text: str, kept: str) -> None:
    assert keep_markers(text, frozenset({1})) == kept


LAB_PAGE = "Laboratory results\nTest Result Flag\nPotassium\n3.1 mmol/L\nL\nSodium 139 mmol/L"
LAB = [Passage(1, "doc-l", "Labs", 2, LAB_PAGE, markdown="| Potassium | 3.1 mmol/L | L |")]


@pytest.mark.parametrize(
    "quote",
    [
        "Potassium | 3.1 mmol/L | L",
        "| Potassium | 3.1 mmol/L | L |",
        "|Potassium|3.1 mmol/L|",
    ],
)
def test_a_quoted_markdown_table_row_is_checked_as_the_cells_printed(quote: str) -> None:
    answer = verify(Draft("Potassium was low [1].", (DraftCitation(1, quote),)), LAB, {})
    assert answer.grounded
    [citation] = answer.citations
    # The quote is kept as the page prints it, without the Markdown separators.
    assert citation.quote == " ".join(quote.replace("|", " ").split())


def test_a_table_row_quote_that_is_not_on_the_page_is_still_dropped() -> None:
    quote = "Potassium | 4.1 mmol/L | L"
    answer = verify(Draft("Potassium [1].", (DraftCitation(1, quote),)), LAB, {})
    assert not answer.grounded


def test_a_pipe_printed_on_the_page_is_matched_as_printed() -> None:
    page = "Dose: 5 mg | 10 mg on alternate days"
    passages = [Passage(1, "doc-p", "Plan", 1, page)]
    quote = "5 mg | 10 mg on alternate days"
    answer = verify(Draft("Alternate [1].", (DraftCitation(1, quote),)), passages, {})
    assert [c.quote for c in answer.citations] == [quote]


def test_a_citation_says_whether_its_page_was_read_by_ocr() -> None:
    scanned = PageReading(
        number=7,
        text=PAGE_7,
        blocks=(),
        width=612,
        height=792,
        source=PageSource.OCR,
        ocr_confidence=0.91,
    )
    passages = [PASSAGES[0], replace(PASSAGES[1], reading=scanned)]
    draft = Draft(
        "Potassium was low [1]; metformin continues [2].",
        (
            DraftCitation(1, "Potassium was 3.1 mmol/L on admission"),
            DraftCitation(2, "Metformin 1000 mg twice daily with meals."),
        ),
    )
    answer = verify(draft, passages, PAGES)
    by_source = {c.source: (c.read_by, c.ocr_confidence) for c in answer.citations}
    assert by_source == {1: (PageSource.TEXT_LAYER, None), 2: (PageSource.OCR, 0.91)}
