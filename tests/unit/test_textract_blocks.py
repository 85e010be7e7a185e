"""Textract's AnalyzeDocument blocks (LAYOUT + TABLES) become the reading model's pages."""

from __future__ import annotations

import pytest

from docquery.adapters.aws.textract_blocks import DEFAULT_PAGE_SIZE, pages_from_blocks
from docquery.domain.reading import BlockKind, Cell, PageSource, Row
from docquery.text.markdown import render_markdown
from support.textract_analysis import Analysis

A4 = (595.0, 842.0)


def lab_report() -> Analysis:
    """Page 1: title, paragraph, a 4-row x 3-column table with a header row, footer, page number."""
    doc = Analysis()
    page = doc.page(1)
    doc.text(page, "LAYOUT_TITLE", "Laboratory Report", (0.1, 0.05, 0.5, 0.04))
    doc.text(page, "LAYOUT_TEXT", "Sample drawn 12 March 2024.", (0.1, 0.12, 0.6, 0.02))
    doc.table(
        page,
        [
            ["Test", "Result", "Range"],
            ["Potassium", "3.1 mmol/L", "3.5-5.1"],
            ["Sodium", "139 mmol/L", "135-145"],
            ["Creatinine", "88 umol/L", "60-110"],
        ],
        (0.1, 0.2, 0.8, 0.2),
    )
    doc.text(page, "LAYOUT_FOOTER", "St Elsewhere Hospital - confidential", (0.1, 0.93, 0.6, 0.02))
    doc.text(page, "LAYOUT_PAGE_NUMBER", "1", (0.9, 0.95, 0.02, 0.02))
    return doc


def test_a_lab_report_page_gives_heading_paragraph_table_and_furniture() -> None:
    [page] = pages_from_blocks(lab_report().blocks, page_count=1, sizes={1: A4})

    kinds = [block.kind for block in page.blocks]
    assert kinds == [
        BlockKind.HEADING,
        BlockKind.PARAGRAPH,
        BlockKind.TABLE,
        BlockKind.FURNITURE,
        BlockKind.FURNITURE,
    ]
    heading, paragraph, table, footer, number = page.blocks
    assert (heading.text, heading.level, heading.section) == ("Laboratory Report", 1, ())
    assert paragraph.section == ("Laboratory Report",)
    assert table.section == ("Laboratory Report",)
    assert (footer.text, number.text) == ("St Elsewhere Hospital - confidential", "1")
    assert page.source is PageSource.OCR
    assert page.ocr_confidence == pytest.approx(0.99)
    assert (page.width, page.height) == A4


def test_the_table_has_its_header_row_and_cells_bound_to_it() -> None:
    [page] = pages_from_blocks(lab_report().blocks, page_count=1, sizes={1: A4})
    table = next(b.table for b in page.blocks if b.table is not None)

    assert table.header == Row(
        (Cell("Test", "Test"), Cell("Result", "Result"), Cell("Range", "Range")), is_header=True
    )
    assert table.body[0] == Row(
        (Cell("Potassium", "Test"), Cell("3.1 mmol/L", "Result"), Cell("3.5-5.1", "Range"))
    )
    assert len(table.body) == 3
    assert table.table_id == "p1t0"
    markdown = render_markdown([page])
    assert (
        "| Test | Result | Range |\n|---|---|---|\n| Potassium | 3.1 mmol/L | 3.5-5.1 |" in markdown
    )
    assert "confidential" not in markdown  # furniture is left out of what models read


def test_boxes_are_points_of_the_page_size() -> None:
    [page] = pages_from_blocks(lab_report().blocks, page_count=1, sizes={1: A4})
    heading = page.blocks[0]
    assert heading.bbox == pytest.approx((0.1 * 595, 0.05 * 842, 0.6 * 595, 0.09 * 842))

    [unsized] = pages_from_blocks(lab_report().blocks, page_count=1)
    width, height = DEFAULT_PAGE_SIZE
    assert unsized.blocks[0].bbox == pytest.approx(
        (0.1 * width, 0.05 * height, 0.6 * width, 0.09 * height)
    )


def test_page_text_is_every_line_in_reading_order_furniture_included() -> None:
    [page] = pages_from_blocks(lab_report().blocks, page_count=1)
    lines = page.text.split("\n")
    assert lines[:3] == ["Laboratory Report", "Sample drawn 12 March 2024.", "Test"]
    assert lines[-2:] == ["St Elsewhere Hospital - confidential", "1"]
    assert len(lines) == 2 + 12 + 2  # every cell is a line of its own here


def test_sections_lists_and_key_values_run_on_to_the_next_page() -> None:
    doc = lab_report()
    page = doc.page(2)
    doc.text(page, "LAYOUT_SECTION_HEADER", "Medications", (0.1, 0.05, 0.3, 0.03))
    items = [
        doc.text(page, "LAYOUT_TEXT", "Amlodipine 5 mg daily", (0.12, 0.1, 0.4, 0.02)),
        doc.text(page, "LAYOUT_TEXT", "Ramipril stopped", (0.12, 0.13, 0.4, 0.02)),
    ]
    # Textract lists the items as layout blocks of their own before the list names them.
    doc.layout(page, "LAYOUT_LIST", items, (0.12, 0.1, 0.4, 0.05))
    patient = doc.line(page, "Patient: Jane Doe", (0.1, 0.2, 0.4, 0.02))
    born = doc.line(page, "Born: 1950-02-01", (0.1, 0.23, 0.4, 0.02))
    doc.layout(page, "LAYOUT_KEY_VALUE", [patient, born], (0.1, 0.2, 0.4, 0.05))
    orphan = doc.line(page, "Handwritten note", (0.1, 0.5, 0.3, 0.02))
    del orphan  # a line no layout block names

    _, second = pages_from_blocks(doc.blocks, page_count=2)

    heading, *rest = second.blocks
    assert (heading.kind, heading.level, heading.section) == (
        BlockKind.HEADING,
        2,
        ("Laboratory Report",),
    )
    assert [(b.kind, b.text) for b in rest] == [
        (BlockKind.LIST_ITEM, "Amlodipine 5 mg daily"),
        (BlockKind.LIST_ITEM, "Ramipril stopped"),
        (BlockKind.KEY_VALUE, "Patient: Jane Doe"),
        (BlockKind.KEY_VALUE, "Born: 1950-02-01"),
    ]
    assert all(b.section == ("Laboratory Report", "Medications") for b in rest)
    assert (rest[2].key, rest[2].value) == ("Patient", "Jane Doe")
    assert second.text.split("\n")[-1] == "Handwritten note"
    assert second.text.count("Amlodipine") == 1


def test_header_rows_and_merged_cells() -> None:
    doc = Analysis()
    page = doc.page(1)
    _, table = doc.table(
        page,
        [
            ["Analyte", "Admission", ""],
            ["", "Value", "Flag"],
            ["Potassium", "3.1", "L"],
        ],
        (0.1, 0.1, 0.8, 0.3),
        header_rows=2,
    )
    cells = doc.cells(table)
    doc.merge(table, [cells[1], cells[2]])  # "Admission" spans Value and Flag

    [reading] = pages_from_blocks(doc.blocks, page_count=1)
    [block] = reading.blocks
    assert block.table is not None
    header, body = block.table.header, block.table.body
    assert header is not None
    assert [c.text for c in header.cells] == ["Analyte", "Admission Value", "Admission Flag"]
    assert body == (
        Row(
            (
                Cell("Potassium", "Analyte"),
                Cell("3.1", "Admission Value"),
                Cell("L", "Admission Flag"),
            )
        ),
    )


def test_a_layout_table_without_its_table_block_keeps_its_words() -> None:
    doc = Analysis()
    page = doc.page(1)
    _, table = doc.table(page, [["Weight", "72 kg"]], (0.1, 0.1, 0.5, 0.05))
    blocks = [b for b in doc.blocks if b is not table and b["BlockType"] != "CELL"]

    [reading] = pages_from_blocks(blocks, page_count=1)

    assert [(b.kind, b.text) for b in reading.blocks] == [(BlockKind.PARAGRAPH, "Weight 72 kg")]


def test_pages_without_blocks_are_empty_pages_without_confidence() -> None:
    doc = Analysis()
    doc.page(1)
    pages = pages_from_blocks(doc.blocks, page_count=3)
    assert [(p.number, p.text, p.blocks, p.ocr_confidence) for p in pages] == [
        (1, "", (), None),
        (2, "", (), None),
        (3, "", (), None),
    ]
