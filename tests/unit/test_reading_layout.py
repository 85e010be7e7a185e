"""Reading born-digital pages: tables, reading order, headings, lists, labels, furniture."""

from __future__ import annotations

import pypdfium2 as pdfium

from docquery.domain.reading import Block, BlockKind, PageReading, Table
from docquery.pipeline.reading import ReadingLimits, read_pdf
from support.reading_pdfs import LAB_HEADER, LAB_X, Page, build_pdf, furnish, table_rows


def read(pages: list[Page]) -> list[PageReading]:
    pdf = pdfium.PdfDocument(build_pdf(pages))
    try:
        return read_pdf(pdf, ReadingLimits(ocr=False))
    finally:
        pdf.close()


def tables(page: PageReading) -> list[Table]:
    return [b.table for b in page.blocks if b.table is not None]


def row(table: Table, first: str) -> list[str]:
    return next([c.text for c in r.cells] for r in table.rows if r.cells[0].text == first)


def content(page: PageReading) -> list[Block]:
    return [b for b in page.blocks if b.is_content]


def lab_report() -> list[Page]:
    first = furnish(Page(), 1, 2)
    first.text(54, 72, "Laboratory Results", size=16, bold=True)
    first.text(54, 100, "Basic Metabolic Panel", size=10.5, bold=True)
    rows = [
        LAB_HEADER,
        ["Sodium", "134", "L", "mmol/L", "135 - 145"],
        ["Potassium", "4.1", "", "mmol/L", "3.5 - 5.1"],
        ["ESR", "9", "", "mm/hr", "0 - 20"],
        ["Urea", "8", "H", "mmol/L", "2.5 - 7.8"],
    ]
    table_rows(first, LAB_X, 116, rows)
    second = furnish(Page(), 2, 2)
    table_rows(second, LAB_X, 70, [LAB_HEADER, ["Creatinine", "88", "", "umol/L", "60 - 110"]])
    second.text(54, 120, "Comment", size=10.5, bold=True)
    second.text(54, 136, "Mild hyponatraemia; repeat in one week.")
    return [first, second]


def test_a_ruled_lab_table_keeps_every_value_in_its_row_and_column() -> None:
    pages = read(lab_report())
    (table,) = tables(pages[0])
    assert table.header is not None
    assert [c.text for c in table.header.cells] == LAB_HEADER
    assert row(table, "Sodium") == ["Sodium", "134", "L", "mmol/L", "135 - 145"]
    assert row(table, "ESR") == ["ESR", "9", "", "mm/hr", "0 - 20"]
    sodium = next(r for r in table.rows if r.cells[0].text == "Sodium")
    assert [c.header for c in sodium.cells] == LAB_HEADER


def test_a_table_continued_over_a_page_break_is_one_table() -> None:
    pages = read(lab_report())
    (first,), (second,) = tables(pages[0]), tables(pages[1])
    assert second.table_id == first.table_id
    assert second.continued
    assert not first.continued
    assert second.rows[0].is_header
    assert row(second, "Creatinine")[1] == "88"
    block = next(b for b in pages[1].blocks if b.table is not None)
    assert block.section == ("Laboratory Results", "Basic Metabolic Panel")


def test_tables_on_two_pages_with_a_heading_between_are_two_tables() -> None:
    pages = lab_report()
    pages[1] = furnish(Page(), 2, 2)
    pages[1].text(54, 70, "Lipid Panel", size=10.5, bold=True)
    table_rows(pages[1], LAB_X, 86, [LAB_HEADER, ["Cholesterol", "5.9", "H", "mmol/L", "< 5.0"]])
    read_pages = read(pages)
    assert tables(read_pages[1])[0].table_id != tables(read_pages[0])[0].table_id


def test_furniture_is_marked_and_never_in_content() -> None:
    pages = read(lab_report())
    for page in pages:
        furniture = [b.text for b in page.blocks if b.kind is BlockKind.FURNITURE]
        assert f"Page {page.number} of 2" in furniture
        assert "Northfield Clinical Laboratory" in furniture
        assert any("HOLLOWAY" in text for text in furniture)
        assert any(text.startswith("Printed") for text in furniture)
        for block in content(page):
            assert "HOLLOWAY" not in block.text
            assert "Page" not in block.text
            assert "Printed" not in block.text


def test_a_small_number_in_a_table_near_the_top_is_a_value_not_a_page_number() -> None:
    page = Page()
    table_rows(page, LAB_X, 30, [LAB_HEADER, ["ESR", "9", "", "mm/hr", "0 - 20"]], ruled=False)
    page.text(54, 90, "Erythrocyte sedimentation rate within the reference range.")
    page.text(300, 760, "3")
    (reading,) = read([page])
    (table,) = tables(reading)
    assert row(table, "ESR")[1] == "9"
    assert [b.text for b in reading.blocks if b.kind is BlockKind.FURNITURE] == ["3"]


def test_a_wrapped_cell_stays_in_its_row_and_stopped_stays_with_its_medicine() -> None:
    page = Page()
    x = [54.0, 170.0, 230.0, 280.0, 380.0, 450.0, 558.0]
    header = ["Medication", "Dose", "Route", "Frequency", "Status", "Comment"]
    for i, text in enumerate(header):
        page.text(x[i] + 3, 103, text, size=9.5, bold=True)
    cells = [
        ("Aspirin", "75 mg", "oral", "once daily", "STOPPED", ["bleeding risk,", "see GP letter"]),
        ("Ramipril", "5 mg", "oral", "once daily", "CONTINUED", [""]),
    ]
    top = 119.0
    for medicine, dose, route, frequency, status, comment in cells:
        for i, text in enumerate([medicine, dose, route, frequency, status]):
            page.text(x[i] + 3, top + 3, text, size=9.5)
        page.lines(x[5] + 3, top + 3, comment, size=9.5, leading=11)
        top += 30.0
    page.grid(x, [100.0, 116.0, 146.0, 176.0])
    (reading,) = read([page])
    (table,) = tables(reading)
    assert row(table, "Aspirin") == [
        "Aspirin",
        "75 mg",
        "oral",
        "once daily",
        "STOPPED",
        "bleeding risk, see GP letter",
    ]
    assert row(table, "Ramipril")[4] == "CONTINUED"


def test_whitespace_aligned_columns_in_one_text_object_per_line_are_a_table() -> None:
    page = Page()
    lines = [
        "Test         Result  Units    Range     Flag",
        "Sodium       134     mmol/L   135-145   L",
        "Potassium    4.1     mmol/L   3.5-5.1",
        "CRP          3       mg/L     <5",
    ]
    for i, line in enumerate(lines):
        page.text(54, 100 + 13 * i, line, size=9, mono=True)
    (reading,) = read([page])
    (table,) = tables(reading)
    assert table.header is not None
    assert [c.text for c in table.header.cells] == ["Test", "Result", "Units", "Range", "Flag"]
    assert row(table, "Sodium") == ["Sodium", "134", "mmol/L", "135-145", "L"]
    assert row(table, "CRP") == ["CRP", "3", "mg/L", "<5", ""]


def test_cells_as_separate_text_objects_without_rules_are_merged_into_rows() -> None:
    page = Page()
    rows = [
        LAB_HEADER,
        ["Haemoglobin", "128", "", "g/L", "120 - 150"],
        ["MCV", "79", "L", "fL", "80 - 100"],
    ]
    table_rows(page, LAB_X, 100, rows, ruled=False)
    (reading,) = read([page])
    (table,) = tables(reading)
    assert row(table, "MCV") == ["MCV", "79", "L", "fL", "80 - 100"]
    assert table.rows[0].is_header


def test_a_two_column_page_is_read_column_by_column() -> None:
    page = Page()
    page.text(54, 60, "Referral Letter", size=16, bold=True)
    left = [f"left column sentence number {i} about the history" for i in range(1, 8)]
    right = [f"right column sentence number {i} about the plan" for i in range(1, 8)]
    page.lines(54, 100, left)
    page.lines(320, 100, right)
    page.text(54, 220, "Yours sincerely, a full-width closing line under both columns of text.")
    (reading,) = read([page])
    texts = [b.text for b in content(reading)]
    assert texts[0] == "Referral Letter"
    assert texts[1] == " ".join(left)
    assert texts[2] == " ".join(right)
    assert texts[3].startswith("Yours sincerely")


def test_headings_lists_labels_and_section_paths() -> None:
    page = Page()
    page.text(54, 60, "Discharge Summary", size=16, bold=True)
    page.text(54, 90, "Patient: Ruth Holloway")
    page.text(54, 115, "DIAGNOSES:", size=11, bold=True)
    page.lines(54, 131, ["1. Community-acquired pneumonia", "2. Atrial fibrillation"])
    page.text(54, 165, "RESULTS", size=11, bold=True)
    page.text(54, 181, "Sodium: 134 mmol/L (135-145) L")
    page.text(54, 205, "PLAN: Review in clinic in six weeks with a repeat chest X-ray and bloods.")
    (reading,) = read([page])
    blocks = content(reading)
    kinds = [(b.kind, b.text) for b in blocks]
    assert kinds == [
        (BlockKind.HEADING, "Discharge Summary"),
        (BlockKind.KEY_VALUE, "Patient: Ruth Holloway"),
        (BlockKind.HEADING, "DIAGNOSES"),
        (BlockKind.LIST_ITEM, "1. Community-acquired pneumonia"),
        (BlockKind.LIST_ITEM, "2. Atrial fibrillation"),
        (BlockKind.HEADING, "RESULTS"),
        (BlockKind.KEY_VALUE, "Sodium: 134 mmol/L (135-145) L"),
        (BlockKind.HEADING, "PLAN"),
        (
            BlockKind.PARAGRAPH,
            "Review in clinic in six weeks with a repeat chest X-ray and bloods.",
        ),
    ]
    assert blocks[3].section == ("Discharge Summary", "DIAGNOSES")
    assert blocks[6].key == "Sodium"
    assert blocks[6].value == "134 mmol/L (135-145) L"
    assert blocks[6].section == ("Discharge Summary", "RESULTS")
    assert blocks[8].section[-1] == "PLAN"
    assert blocks[0].level < blocks[2].level


def test_a_paragraph_over_several_lines_is_one_block_with_its_box() -> None:
    page = Page()
    page.lines(72, 100, ["The patient was admitted with", "shortness of breath and", "fever."])
    (reading,) = read([page])
    (block,) = content(reading)
    assert block.text == "The patient was admitted with shortness of breath and fever."
    x0, top, x1, bottom = block.bbox
    assert 71 <= x0 <= 73
    assert 97 <= top <= 101
    assert bottom > 130
    assert x1 > 180


def test_a_plain_title_over_indented_labels_is_a_heading_and_labels_stay_apart() -> None:
    # Scans carry no font weight: a short title over an indented group still heads it.
    page = Page()
    page.text(60, 100, "Cardiac Markers")
    page.text(68, 112, "Troponin I: 423 ng/L (<34) H")
    page.text(68, 124, "NT-proBNP: 46 pg/mL (<125)")
    page.text(60, 150, "Results were discussed with the patient today")
    page.text(60, 162, "Sodium: 138 mmol/L (135-145)")
    (reading,) = read([page])
    blocks = content(reading)
    assert [(b.kind, b.text) for b in blocks] == [
        (BlockKind.HEADING, "Cardiac Markers"),
        (BlockKind.KEY_VALUE, "Troponin I: 423 ng/L (<34) H"),
        (BlockKind.KEY_VALUE, "NT-proBNP: 46 pg/mL (<125)"),
        (BlockKind.PARAGRAPH, "Results were discussed with the patient today"),
        (BlockKind.KEY_VALUE, "Sodium: 138 mmol/L (135-145)"),
    ]
    assert blocks[2].section == ("Cardiac Markers",)


def test_justified_columns_closer_than_a_wide_space_are_still_two_columns() -> None:
    # Words 5 pt apart, columns 10 pt apart: only the gutter staying empty line after line
    # tells the columns apart.
    page = Page()
    for line in range(8):
        top = 100 + 12 * line
        for i in range(6):
            page.text(72 + 35 * i, top, f"L{line}w{i}a", mono=True)
            page.text(287 + 35 * i, top, f"R{line}w{i}b", mono=True)
    (reading,) = read([page])
    texts = [b.text for b in content(reading)]
    left = " ".join(f"L{line}w{i}a" for line in range(8) for i in range(6))
    right = " ".join(f"R{line}w{i}b" for line in range(8) for i in range(6))
    assert texts == [left, right]


def test_bare_numbers_counting_up_with_the_pages_are_page_numbers() -> None:
    words = ["Admission", "Course", "Discharge"]
    pages = []
    for number in range(1, 4):
        page = Page(595.0, 842.0)
        page.text(89, 200 + 40 * number, f"{words[number - 1]} notes on this page.")
        page.text(89, 400, str(4 + number))  # a bare value in the body: not furniture
        page.text(295, 722, str(number))
        pages.append(page)
    readings = read(pages)
    for reading in readings:
        furniture = [b.text for b in reading.blocks if b.kind is BlockKind.FURNITURE]
        assert furniture == [str(reading.number)]
        assert str(4 + reading.number) in [b.text for b in content(reading)]


def test_a_patient_banner_is_furniture_even_where_it_moves_on_the_first_page() -> None:
    banner = "Patient: HOLLOWAY, Ruth   MRN: 4471203"
    pages = []
    for number in range(1, 4):
        page = Page()
        page.text(54, 130 if number == 1 else 56, banner)
        page.text(54, 300, f"Progress note {number}: mobilising with a frame today.")
        pages.append(page)
    for reading in read(pages):
        furniture = [b.text for b in reading.blocks if b.kind is BlockKind.FURNITURE]
        assert furniture == ["Patient: HOLLOWAY, Ruth", "MRN: 4471203"]
        assert all("HOLLOWAY" not in b.text for b in content(reading))


def test_a_page_whose_only_line_is_in_the_top_margin_keeps_it_as_content() -> None:
    # Nothing below it to be set apart from: it is the page's text, not a running header.
    only = Page()
    only.text(72, 41, "Haemoglobin 13.2 g/dL, within range.")
    [page] = read([only])
    assert [(b.kind, b.text) for b in page.blocks] == [
        (BlockKind.PARAGRAPH, "Haemoglobin 13.2 g/dL, within range.")
    ]
