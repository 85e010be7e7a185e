"""What one document may cost the extraction workers: time, memory, pages, text and OCR."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docquery.settings import Settings


@dataclass(frozen=True, slots=True)
class OcrLimits:
    """OCR in the workers: render resolution, pixel cap, Tesseract's time per page."""

    dpi: int = 200
    max_pixels: int = 25_000_000
    timeout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Per document: time, memory, pages and characters; OCR off when `ocr` is None."""

    timeout_seconds: float
    memory_bytes: int
    max_pages: int
    max_chars: int
    ocr: OcrLimits | None = None
    ocr_page_allowance_seconds: float = 5.0
    max_timeout_seconds: float = 0.0

    @property
    def ceiling_seconds(self) -> float:
        """The longest a document may take, OCR allowance included."""
        return max(self.timeout_seconds, self.max_timeout_seconds)

    def deadline_seconds(self, ocr_pages: int) -> float:
        """Seconds allowed from the start once `ocr_pages` pages were read by OCR."""
        earned = self.timeout_seconds + ocr_pages * self.ocr_page_allowance_seconds
        return min(earned, self.ceiling_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractionLimits:
        """The limits configured by EXTRACT_TIMEOUT_SECONDS, EXTRACT_MEMORY_LIMIT, OCR_*, ..."""
        ocr = None
        if settings.ocr_in_workers:
            ocr = OcrLimits(
                dpi=settings.ocr_dpi,
                max_pixels=settings.ocr_max_pixels,
                timeout_seconds=settings.ocr_page_timeout_seconds,
            )
        return cls(
            timeout_seconds=settings.extract_timeout_seconds,
            memory_bytes=int(settings.extract_memory_limit),
            max_pages=settings.max_pages,
            max_chars=settings.max_extracted_chars,
            ocr=ocr,
            ocr_page_allowance_seconds=settings.ocr_page_allowance_seconds,
            max_timeout_seconds=settings.extract_max_timeout_seconds,
        )

    def to_worker(self) -> str:
        """The limits as the worker's JSON argument."""
        return json.dumps({**asdict(self), "max_timeout_seconds": self.ceiling_seconds})
