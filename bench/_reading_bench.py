"""Reading throughput for bench/extract.py: structure (pdfium + layout) against pypdf text, and OCR.

Both ways run in this process, alternating round by round on the same file, so the ratio
compares the work and not the machine's mood: pypdf `extract_text()` of every page (today's
extractor's work) against `read_document` (text, blocks, tables, furniture, sections).
OCR pages/s is `read_document` on image-only PDFs: one Tesseract thread, as in one worker.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

from docquery.pipeline.reading import read_document


@dataclass
class ReadingThroughput:
    document: str
    pages: int
    pypdf_pages_per_s: float
    reading_pages_per_s: float
    ratio: float


def _pypdf(path: Path) -> int:
    return len([page.extract_text() for page in PdfReader(path, strict=False).pages])


def _reading(path: Path) -> int:
    return len(read_document(path))


def _round(run: Callable[[Path], int], path: Path, seconds: float) -> float:
    pages = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        pages += run(path)
    return pages / elapsed


def reading_throughput(paths: list[Path], *, seconds: float, rounds: int) -> ReadingThroughput:
    """Median pages/s of pypdf text and of the reading over `paths` taken as one corpus."""

    def corpus(run: Callable[[Path], int]) -> Callable[[Path], int]:
        return lambda _: sum(run(p) for p in paths)

    pages = _reading(paths[0]) if len(paths) == 1 else sum(_reading(p) for p in paths)
    _pypdf(paths[0])
    plain, structured = [], []
    for _ in range(rounds):
        plain.append(_round(corpus(_pypdf), paths[0], seconds))
        structured.append(_round(corpus(_reading), paths[0], seconds))
    a, b = statistics.median(plain), statistics.median(structured)
    name = paths[0].name if len(paths) == 1 else f"{len(paths)} clinical PDFs (born digital)"
    return ReadingThroughput(name, pages, a, b, b / a)


def ocr_pages_per_second(paths: list[Path]) -> tuple[int, float]:
    """Pages and pages/s of reading image-only PDFs (every page OCR'd) in this process."""
    read_document(paths[0])  # loads the model once, as a worker does at its first scan
    started = time.perf_counter()
    pages = sum(len(read_document(p)) for p in paths)
    return pages, pages / (time.perf_counter() - started)


def print_reading(rows: list[ReadingThroughput], ocr: tuple[int, float] | None) -> None:
    print()
    print("| Reading | Pages | pypdf text pages/s | reading pages/s | reading / pypdf |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.document} | {row.pages} | {row.pypdf_pages_per_s:,.0f} "
            f"| {row.reading_pages_per_s:,.0f} | {row.ratio:.2f} |"
        )
    print("target: reading / pypdf >= 0.5 on the 500-page generated PDF")
    if ocr is not None:
        print(f"OCR: {ocr[0]} scanned pages at {ocr[1]:.2f} pages/s in one process (one worker)")
