"""Real PDFs for tests: the samples kept in tests/data/pdfs and small generated ones."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfWriter

# Five small real-world PDFs (py-pdf/sample-files, CC-BY-SA-4.0: see tests/data/README.md).
SAMPLE_PDFS = Path(__file__).resolve().parents[1] / "data" / "pdfs"


def sample_pdf(name: str = "pdflatex-4-pages.pdf") -> bytes:
    return (SAMPLE_PDFS / name).read_bytes()


def make_pdf(marker: str = "", pages: int = 1) -> bytes:
    """A valid PDF with blank pages; marker makes the bytes unique."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    writer.add_metadata({"/Subject": marker or "docquery test"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
