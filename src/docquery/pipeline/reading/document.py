"""read_document: a PDF into PageReadings, page by page, text layer or OCR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium

from docquery.domain.reading import PageReading, PageSource
from docquery.pipeline.reading.blocks import build_blocks
from docquery.pipeline.reading.furniture import mark_furniture
from docquery.pipeline.reading.geometry import PageContent
from docquery.pipeline.reading.layout import Item, page_items
from docquery.pipeline.reading.ocr import OcrSettings, ocr_page
from docquery.pipeline.reading.tables import link_continued
from docquery.pipeline.reading.text_layer import page_content
from docquery.ports.ocr import Ocr

# A page with fewer printable characters than this, mostly covered by images, is a scan.
_MIN_CHARS = 20
_MIN_IMAGE_COVERAGE = 0.3

# on_page(number, total, source): called after each page is read (progress; OCR pages counted).
OnPage = Callable[[int, int, PageSource], None]


class NoTextLayer(Exception):
    """A page needs OCR and OCR is off."""


@dataclass(frozen=True, slots=True)
class ReadingLimits:
    """What reading may do: OCR or not, and OCR's resolution, pixel cap and time per page.

    Without OCR a page that needs it raises NoTextLayer, or with `unread_pages_empty` is kept
    with whatever its text layer has (the document fails later only if no page has text).
    """

    ocr: bool = True
    ocr_settings: OcrSettings = field(default_factory=OcrSettings)
    unread_pages_empty: bool = False


@dataclass(slots=True)
class _Page:
    items: list[Item]
    width: float
    height: float
    source: PageSource
    confidence: float | None


def needs_ocr(content: PageContent) -> bool:
    """No usable text layer: (almost) no characters, and the page is painted by images."""
    chars = sum(len(w.text) for w in content.words)
    if chars >= _MIN_CHARS:
        return False
    return (
        chars == 0 and content.image_coverage > 0
    ) or content.image_coverage >= _MIN_IMAGE_COVERAGE


def read_document(
    path: str | Path,
    limits: ReadingLimits | None = None,
    on_page: OnPage | None = None,
    ocr: Ocr | None = None,
) -> list[PageReading]:
    """Every page of the PDF at `path`, read; `ocr` defaults to Tesseract."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return read_pdf(pdf, limits or ReadingLimits(), on_page, ocr)
    finally:
        pdf.close()


def read_pdf(
    pdf: pdfium.PdfDocument,
    limits: ReadingLimits,
    on_page: OnPage | None = None,
    ocr: Ocr | None = None,
) -> list[PageReading]:
    """Every page of an open pdfium document, read."""
    total = len(pdf)
    pages: list[_Page] = []
    for index in range(total):
        page = pdf[index]
        try:
            pages.append(_read_page(page, limits, ocr))
        finally:
            page.close()
        if on_page is not None:
            on_page(index + 1, total, pages[-1].source)
    return _finish(pages)


def _read_page(page: pdfium.PdfPage, limits: ReadingLimits, ocr: Ocr | None) -> _Page:
    content = page_content(page)
    if not needs_ocr(content) or (not limits.ocr and limits.unread_pages_empty):
        return _Page(
            page_items(content), content.width, content.height, PageSource.TEXT_LAYER, None
        )
    if not limits.ocr:
        raise NoTextLayer("a page has no text layer and OCR is off")
    result = ocr_page(page, limits.ocr_settings, ocr)
    items = page_items(result.content)
    return _Page(items, content.width, content.height, PageSource.OCR, round(result.confidence, 4))


def _finish(pages: list[_Page]) -> list[PageReading]:
    mark_furniture([p.items for p in pages], [p.height for p in pages])
    blocks = link_continued(build_blocks([p.items for p in pages]))
    return [
        PageReading(
            number=number,
            text="\n".join(item.text for item in page.items),
            blocks=tuple(page_blocks),
            width=page.width,
            height=page.height,
            source=page.source,
            ocr_confidence=page.confidence,
        )
        for number, (page, page_blocks) in enumerate(zip(pages, blocks, strict=True), start=1)
    ]
