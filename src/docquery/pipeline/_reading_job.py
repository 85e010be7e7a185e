"""One document in the extraction worker: pdfium opens it, the reading engine reads it.

Imported only inside the worker process, under its address-space cap. Failures become
`JobFailed` with their stable code; the parent turns them into ExtractionFailed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import pypdfium2 as pdfium

from docquery.domain.processing import FailureCode
from docquery.domain.reading import PageReading, PageSource, page_to_dict
from docquery.pipeline._extract_worker import (
    HEADER,
    JobFailed,
    clean_text,
    frame_budget,
    write_frame,
)
from docquery.pipeline.reading import ReadingLimits, read_pdf
from docquery.pipeline.reading.ocr import OcrSettings, OcrTimeout, OcrUnavailable


class Reader:
    """Reads documents one at a time with the limits the parent passed."""

    def __init__(self, limits: dict[str, Any]) -> None:
        self._max_pages = int(limits["max_pages"])
        self._max_chars = int(limits["max_chars"])
        ocr = limits.get("ocr")
        self._reading = ReadingLimits(
            ocr=ocr is not None,
            ocr_settings=OcrSettings(**ocr) if ocr is not None else OcrSettings(),
            unread_pages_empty=ocr is None,
        )

    def run(self, path: str, out: IO[bytes]) -> None:
        """Read the PDF at `path` and send its frames; raises JobFailed."""
        pdf = _open(path)
        try:
            total = len(pdf)
            if total == 0:
                raise JobFailed(FailureCode.UNREADABLE_PDF, "the PDF has no pages")
            if total > self._max_pages:
                message = f"the PDF has {total} pages; the limit is {self._max_pages}"
                raise JobFailed(FailureCode.TOO_MANY_PAGES, message)
            write_frame(out, {"total": total})
            pages = self._read(pdf, out)
        finally:
            pdf.close()
        self._send(pages, out)

    def _read(self, pdf: pdfium.PdfDocument, out: IO[bytes]) -> list[PageReading]:
        ocr_pages = 0

        def on_page(number: int, total: int, source: PageSource) -> None:
            nonlocal ocr_pages
            ocr_pages += source is PageSource.OCR
            write_frame(out, {"read": number, "ocr": ocr_pages})

        try:
            return read_pdf(pdf, self._reading, on_page)
        except (JobFailed, MemoryError):
            raise
        except OcrTimeout as exc:
            raise JobFailed(FailureCode.EXTRACTION_TIMEOUT, str(exc)) from exc
        except OcrUnavailable as exc:
            raise JobFailed(FailureCode.OCR_FAILED, str(exc)) from exc
        except RecursionError as exc:
            raise JobFailed(FailureCode.UNREADABLE_PDF, "structure nested too deeply") from exc
        except pdfium.PdfiumError as exc:
            raise JobFailed(FailureCode.UNREADABLE_PDF, str(exc)[:500]) from exc

    def _send(self, pages: list[PageReading], out: IO[bytes]) -> None:
        chars = 0
        budget = frame_budget(self._max_chars)
        for page in pages:
            chars += len(page.text)
            if chars > self._max_chars:
                message = f"more than {self._max_chars} characters of text (by page {page.number})"
                raise JobFailed(FailureCode.TOO_MUCH_TEXT, message)
        for page in pages:
            body = json.dumps({"page": _clean(page_to_dict(page))}, ensure_ascii=False).encode()
            budget -= len(body)
            if budget < 0:
                message = f"the page readings exceed {frame_budget(self._max_chars)} bytes"
                raise JobFailed(FailureCode.TOO_MUCH_TEXT, message)
            out.write(HEADER.pack(len(body)) + body)
        out.flush()
        write_frame(out, {"done": len(pages)})


def _open(path: str) -> pdfium.PdfDocument:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        # The caller's file is missing or unreadable: not the document's fault.
        raise JobFailed(FailureCode.STORAGE_ERROR, f"cannot read the file: {exc.strerror}") from exc
    try:
        # No password: an owner-password-only PDF (empty user password) opens, RC4 or AES.
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        # pdfium's error text (FPDF_GetLastError) for a file it cannot decrypt: "Password error".
        if "password" in str(exc).lower():
            raise JobFailed(FailureCode.ENCRYPTED_PDF, "the PDF needs a password to open") from exc
        # "Data format error": garbage, a truncated file, no page tree, zero pages.
        raise JobFailed(FailureCode.UNREADABLE_PDF, str(exc)[:500]) from exc


def _clean(value: Any) -> Any:
    """Every string of a page's dict made safe to store (NULs, lone surrogates)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value
