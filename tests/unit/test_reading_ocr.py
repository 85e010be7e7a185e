"""Reading scanned pages: Tesseract from the wheels, OCR only where needed, limits."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from docquery.domain.reading import BlockKind, PageReading, PageSource
from docquery.pipeline.reading import NoTextLayer, ReadingLimits, read_pdf
from docquery.pipeline.reading.ocr import OcrSettings, OcrTimeout, read_image, render_scale
from docquery.ports.ocr import OcrText, OcrWord
from support.reading_pdfs import LAB_HEADER, LAB_X, Page, build_pdf, scanned, table_rows


def letter() -> Page:
    page = Page()
    page.text(54, 60, "Clinic Letter", size=18, bold=True)
    page.text(54, 100, "Sodium: 134 mmol/L", size=12)
    page.lines(
        54,
        130,
        ["The patient reports less breathlessness", "and sleeps through the night."],
        size=12,
    )
    return page


def read(pages: list[Page], limits: ReadingLimits | None = None, on_page=None) -> list[PageReading]:  # type: ignore[no-untyped-def]
    pdf = pdfium.PdfDocument(build_pdf(pages))
    try:
        return read_pdf(pdf, limits or ReadingLimits(), on_page)
    finally:
        pdf.close()


def test_a_scanned_page_is_read_by_ocr_into_the_same_blocks() -> None:
    (page,) = read([scanned(letter())])
    assert page.source is PageSource.OCR
    assert page.ocr_confidence is not None
    assert page.ocr_confidence > 0.8
    kinds = {(b.kind, b.text) for b in page.blocks}
    assert (BlockKind.HEADING, "Clinic Letter") in kinds
    assert (BlockKind.KEY_VALUE, "Sodium: 134 mmol/L") in kinds
    paragraph = next(b for b in page.blocks if b.kind is BlockKind.PARAGRAPH)
    assert paragraph.text == (
        "The patient reports less breathlessness and sleeps through the night."
    )
    assert paragraph.section == ("Clinic Letter",)


def test_a_scanned_table_keeps_its_rows_and_columns() -> None:
    page = Page()
    rows = [
        LAB_HEADER,
        ["Sodium", "134", "L", "mmol/L", "135 - 145"],
        ["Urea", "6.1", "", "mmol/L", "2.5 - 7.8"],
    ]
    table_rows(page, LAB_X, 100, rows)
    (reading,) = read([scanned(page)])
    (table,) = [b.table for b in reading.blocks if b.table is not None]
    cells = [[c.text for c in r.cells] for r in table.rows]
    assert ["Sodium", "134", "L", "mmol/L", "135 - 145"] in cells
    assert table.rows[0].is_header


def test_a_mixed_pdf_gets_ocr_only_on_the_pages_that_need_it() -> None:
    text_page = Page().text(54, 60, "Typed page with a text layer")
    seen: list[tuple[int, int, PageSource]] = []
    pages = read(
        [text_page, scanned(letter()), Page().text(54, 60, "Another typed page")],
        on_page=lambda number, total, source: seen.append((number, total, source)),
    )
    assert [p.source for p in pages] == [
        PageSource.TEXT_LAYER,
        PageSource.OCR,
        PageSource.TEXT_LAYER,
    ]
    assert [p.ocr_confidence is None for p in pages] == [True, False, True]
    assert seen == [
        (1, 3, PageSource.TEXT_LAYER),
        (2, 3, PageSource.OCR),
        (3, 3, PageSource.TEXT_LAYER),
    ]
    assert "breathlessness" in pages[1].text


def test_a_blank_page_is_not_sent_to_ocr() -> None:
    (page,) = read([Page()])
    assert page.source is PageSource.TEXT_LAYER
    assert page.blocks == ()


def test_with_ocr_off_a_scan_is_refused() -> None:
    with pytest.raises(NoTextLayer):
        read([scanned(letter())], ReadingLimits(ocr=False))


def test_ocr_stops_at_its_time_limit() -> None:
    page = Page()
    page.lines(
        40,
        40,
        [f"line {i} of a page dense with words to recognise" * 2 for i in range(60)],
        size=8,
        leading=11.5,
    )
    pdf = pdfium.PdfDocument(build_pdf([page]))
    try:
        image = pdf[0].render(scale=300 / 72, grayscale=True).to_pil()
    finally:
        pdf.close()
    with pytest.raises(OcrTimeout):
        read_image(image, 612.0, 792.0, 300 / 72, timeout=0.001)


def test_the_render_scale_keeps_under_the_pixel_cap() -> None:
    settings = OcrSettings(dpi=300, max_pixels=1_000_000)
    scale = render_scale(612.0, 792.0, settings)
    assert 612 * 792 * scale * scale <= 1_000_000
    assert render_scale(612.0, 792.0, OcrSettings(dpi=200)) == pytest.approx(200 / 72)
    (page,) = read([scanned(letter())], ReadingLimits(ocr_settings=settings))
    assert page.source is PageSource.OCR


class FakeOcr:
    """An Ocr port that 'reads' a fixed lab table, whatever the image."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def read(
        self, image: object, *, width: float, height: float, scale: float, timeout: float
    ) -> OcrText:
        self.calls.append((width, height))
        rows = [["Test", "Result", "Units"], ["Sodium", "134", "mmol/L"], ["Urea", "6.1", "mmol/L"]]
        words = []
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                x, top = 60.0 + 150 * c, 100.0 + 14 * r
                words.append(OcrWord(text, (x, top, x + 6 * len(text), top + 12), 0.9))
        return OcrText(tuple(words), 0.9)


def test_any_ocr_engine_behind_the_port_gets_the_same_layout() -> None:
    engine = FakeOcr()
    pdf = pdfium.PdfDocument(build_pdf([Page().text(54, 60, "typed"), scanned(letter(), dpi=50)]))
    try:
        pages = read_pdf(pdf, ReadingLimits(), ocr=engine)
    finally:
        pdf.close()
    assert engine.calls == [(612.0, 792.0)]
    assert pages[1].source is PageSource.OCR
    assert pages[1].ocr_confidence == pytest.approx(0.9)
    (table,) = [b.table for b in pages[1].blocks if b.table is not None]
    assert [[c.text for c in r.cells] for r in table.rows][1] == ["Sodium", "134", "mmol/L"]
