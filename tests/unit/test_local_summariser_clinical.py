"""Local summaries of generated clinical PDFs, read by the real reading engine (issue 12).

Each test is one failure of the issue: lab values dropped, medications and diagnoses cut, the
aspirin stop missing, follow-up items lost, an overview of table rows, an addressee block filed
as a diagnosis.
"""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium

from docquery.adapters.local.summariser import LocalLanguageModel
from docquery.domain.processing import Summary
from docquery.domain.reading import Block, BlockKind, Cell, PageReading, Row, Table
from docquery.pipeline.reading import ReadingLimits, read_pdf
from support.clinical_pdfs import (
    DIAGNOSES,
    FOLLOW_UP,
    MEDICATIONS,
    discharge_pdf,
    lab_pdf,
    referral_pdf,
)


def read(data: bytes) -> list[PageReading]:
    pdf = pdfium.PdfDocument(io.BytesIO(data))
    try:
        return read_pdf(pdf, ReadingLimits(ocr=False))
    finally:
        pdf.close()


async def summarise(data: bytes) -> Summary:
    return await LocalLanguageModel().summarise(read(data))


def section(summary: Summary, name: str) -> list[str]:
    found = {s.name: s for s in summary.sections}
    return [st.text for st in found[name].statements] if name in found else []


def every(summary: Summary) -> list[str]:
    return [st.text for s in summary.sections for st in s.statements]


async def test_abnormal_lab_values_keep_value_unit_range_and_flag() -> None:
    findings = section(await summarise(lab_pdf()), "findings")
    assert "Sodium 134 mmol/L (ref 135-145) L" in findings
    assert "Haemoglobin 10.2 g/dL (ref 13.0-17.0) L" in findings
    assert "Platelets 512 x10^9/L (ref 150-400) H" in findings
    # No flag printed, but outside its printed range.
    assert "Creatinine 131 umol/L (ref 60-110)" in findings
    assert not any("Potassium" in text for text in findings)


async def test_every_medication_is_listed_with_its_status() -> None:
    meds = section(await summarise(discharge_pdf()), "medications")
    assert len(meds) == 6
    for name, dose, *_, status, _notes in MEDICATIONS[1:]:
        assert any(text.startswith(f"{name} {dose}: {status}") for text in meds), (name, meds)


async def test_the_aspirin_stop_is_stated_beside_its_name_and_nowhere_as_current() -> None:
    summary = await summarise(discharge_pdf())
    assert any(
        text.startswith("Aspirin 75 mg: STOPPED") for text in section(summary, "medications")
    )
    for text in every(summary):
        for sentence in re.split(r"(?<=[.!?;])\s+", text):
            if "aspirin" in sentence.casefold():
                assert re.search(r"stop", sentence, re.IGNORECASE), sentence


async def test_changes_come_before_continued_medications() -> None:
    meds = section(await summarise(discharge_pdf()), "medications")
    statuses = [re.search(r": (NEW|CHANGED|STOPPED|CONTINUED)", text) for text in meds]
    order = [m.group(1) for m in statuses if m]
    assert order == ["NEW", "NEW", "CHANGED", "STOPPED", "CONTINUED", "CONTINUED"]


async def test_every_diagnosis_is_kept() -> None:
    diagnoses = section(await summarise(discharge_pdf()), "diagnoses")
    assert diagnoses == [line.split(". ", 1)[1] for line in DIAGNOSES]


async def test_every_follow_up_item_is_kept_with_its_date() -> None:
    follow_up = section(await summarise(discharge_pdf()), "follow_up")
    assert follow_up == [line.removeprefix("- ") for line in FOLLOW_UP]


async def test_the_overview_is_prose_never_table_rows_or_furniture() -> None:
    summary = await summarise(discharge_pdf())
    overview = section(summary, "overview")
    assert "Palpitations and breathlessness for three days." in overview
    for text in overview:
        assert not any(row[0] in text for row in MEDICATIONS[1:]), text
        assert "Page 1 of 1" not in text
        assert "Northfield" not in text
    lab_overview = section(await summarise(lab_pdf()), "overview")
    assert any("Anaemia with a raised platelet count" in text for text in lab_overview)
    assert not any(re.search(r"\b(?:Sodium|Potassium) \d", text) for text in lab_overview)


async def test_a_referral_letters_addressee_block_is_not_a_diagnosis() -> None:
    summary = await summarise(referral_pdf())
    assert section(summary, "diagnoses") == ["Suspected stable angina"]
    assert not any("Marsh" in text or "Mill Lane" in text for text in every(summary) if text)


async def test_every_statement_cites_the_page_it_is_printed_on() -> None:
    summary = await summarise(discharge_pdf())
    assert summary.sections
    assert all(st.pages == (1,) for s in summary.sections for st in s.statements)


def _page(number: int, blocks: list[Block]) -> PageReading:
    return PageReading(number, "", tuple(blocks), 612, 792)


def _block(kind: BlockKind, text: str, *section: str) -> Block:
    return Block(kind, text, (0.0, 0.0, 1.0, 1.0), tuple(section))


async def test_prose_naming_a_stopped_medicine_as_taken_is_left_out() -> None:
    pages = read(discharge_pdf())
    course = [
        _block(BlockKind.HEADING, "Hospital Course"),
        _block(
            BlockKind.PARAGRAPH, "She takes aspirin and metformin every morning.", "Hospital Course"
        ),
        _block(
            BlockKind.PARAGRAPH, "Aspirin was stopped on the day of admission.", "Hospital Course"
        ),
    ]
    summary = await LocalLanguageModel().summarise([*pages, _page(2, course)])
    statements = every(summary)
    assert "Aspirin was stopped on the day of admission." in statements
    assert not any("every morning" in text for text in statements)


async def test_a_long_document_keeps_a_budget_with_abnormal_values_first() -> None:
    normal = [f"Result {n}: the wound was reviewed and remains clean." for n in range(40)]
    title = _page(1, [_block(BlockKind.HEADING, "Inpatient Notes")])
    pages = [title] + [
        _page(
            n,
            [
                _block(BlockKind.HEADING, "Investigations"),
                *(
                    _block(BlockKind.PARAGRAPH, text, "Investigations")
                    for text in normal[n * 4 : n * 4 + 4]
                ),
            ],
        )
        for n in range(2, 10)
    ]
    pages.append(
        _page(
            9, [_block(BlockKind.PARAGRAPH, "Potassium was high at 6.1 mmol/L.", "Investigations")]
        )
    )
    findings = section(await LocalLanguageModel().summarise(pages), "findings")
    assert findings[0] == "Potassium was high at 6.1 mmol/L."
    assert 1 < len(findings) <= 15


def _table_block(rows: list[list[str]], *section: str) -> Block:
    header = rows[0]
    table = Table(
        rows=(
            Row(tuple(Cell(c, c) for c in header), is_header=True),
            *(Row(tuple(Cell(c, h) for c, h in zip(r, header, strict=True))) for r in rows[1:]),
        ),
        table_id="t",
    )
    return Block(BlockKind.TABLE, "", (0.0, 0.0, 1.0, 1.0), tuple(section), table=table)


async def test_a_medicine_under_a_stopped_heading_is_stated_as_stopped() -> None:
    page = _page(
        1,
        [
            _block(BlockKind.HEADING, "Discharge Letter"),
            _block(BlockKind.HEADING, "Medicines stopped", "Discharge Letter"),
            _block(BlockKind.LIST_ITEM, "- Naproxen 500 mg twice daily", "Medicines stopped"),
            _block(BlockKind.HEADING, "Discharge medications", "Discharge Letter"),
            _table_block(
                [["Name", "Dose", "Frequency"], ["Sertraline", "50 mg", "once daily"]],
                "Discharge medications",
            ),
        ],
    )
    medications = section(await LocalLanguageModel().summarise([page]), "medications")
    assert medications == [
        "STOPPED: Naproxen 500 mg twice daily",
        "Sertraline 50 mg, once daily",
    ]


async def test_a_flag_printed_in_the_result_cell_marks_the_result_abnormal() -> None:
    page = _page(
        1,
        [
            _block(BlockKind.HEADING, "Biochemistry"),
            _table_block(
                [
                    ["Test", "Result", "Units", "Reference range"],
                    ["Sodium", "129 L", "mmol/L", ""],
                    ["Urea", "6.1", "mmol/L", ""],
                    ["CRP", "88 (H)", "mg/L", ""],
                ],
                "Biochemistry",
            ),
        ],
    )
    findings = section(await LocalLanguageModel().summarise([page]), "findings")
    assert findings == ["Sodium 129 mmol/L L", "CRP 88 mg/L H"]


async def test_result_lines_read_as_paragraphs_keep_only_the_abnormal_ones() -> None:
    lines = [
        "Sodium 129 mmol/L (135-145) L",
        "Potassium 4.2 mmol/L (3.5-5.0)",
        "Creatinine 160 umol/L (60-110)",
    ]
    page = _page(
        1,
        [
            _block(BlockKind.HEADING, "Chemistry"),
            *(_block(BlockKind.PARAGRAPH, line, "Chemistry") for line in lines),
        ],
    )
    findings = section(await LocalLanguageModel().summarise([page]), "findings")
    assert findings == [
        "Sodium 129 mmol/L (ref 135-145) L",
        "Creatinine 160 umol/L (ref 60-110)",
    ]


async def test_a_stopped_potassium_supplement_does_not_hide_the_potassium_result() -> None:
    page = _page(
        1,
        [
            _block(BlockKind.HEADING, "Discharge Summary"),
            _block(
                BlockKind.PARAGRAPH,
                "Potassium was 6.6 mmol/L (high) on admission. She takes "
                "bendroflumethiazide 2.5 mg each morning.",
                "Discharge Summary",
                "Hospital Course",
            ),
            _table_block(
                [
                    ["Medication", "Dose", "Status"],
                    ["Potassium chloride ER", "20 mEq", "STOPPED"],
                    ["Bendroflumethiazide", "2.5 mg", "STOPPED"],
                ],
                "Discharge Summary",
                "Medications",
            ),
        ],
    )
    statements = every(await LocalLanguageModel().summarise([page]))
    assert "Potassium was 6.6 mmol/L (high) on admission." in statements
    assert not any("each morning" in text for text in statements)
