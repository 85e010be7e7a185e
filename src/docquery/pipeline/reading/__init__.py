"""Reading a PDF: per page its text and ordered blocks, from the text layer or by OCR.

`read_document` is what the extraction worker process calls. Pages are opened, read and
closed one at a time; what is kept of a page until the end is its items (segments and tables),
because furniture and section paths are decided across the whole document.
"""

from docquery.pipeline.reading.document import (
    NoTextLayer,
    ReadingLimits,
    needs_ocr,
    read_document,
    read_pdf,
)

__all__ = ["NoTextLayer", "ReadingLimits", "needs_ocr", "read_document", "read_pdf"]
