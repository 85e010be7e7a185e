"""Generated PDFs for the reading tests: content streams written by hand, scans made by pdfium.

A `Page` takes text and rules in top-left coordinates (points, y down), the way the reading
model reports boxes, and writes PDF operators (y up). Each `text` call is its own text object,
as PDF producers that set every table cell apart do; `row` writes a whole line as one object.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pypdfium2 as pdfium

from support.bad_pdfs import assemble, stream

FONTS = {
    b"F1": b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"F2": b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
    b"/Encoding /WinAnsiEncoding >>",
    b"F3": b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
}


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")


@dataclass
class Page:
    """One page being drawn: text and rules at top-left coordinates."""

    width: float = 612.0
    height: float = 792.0
    ops: list[bytes] = field(default_factory=list)
    image: tuple[int, int, bytes] | None = None  # (width px, height px, 8-bit gray pixels)

    def text(
        self,
        x: float,
        top: float,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        mono: bool = False,
    ) -> Page:
        """Text whose line box starts at `top` (the baseline is about 0.8 em lower)."""
        font = b"F3" if mono else b"F2" if bold else b"F1"
        baseline = self.height - top - 0.8 * size
        self.ops.append(
            b"BT /%s %.2f Tf %.2f %.2f Td (%s) Tj ET" % (font, size, x, baseline, _escape(text))
        )
        return self

    def lines(
        self,
        x: float,
        top: float,
        texts: Sequence[str],
        *,
        size: float = 10,
        leading: float | None = None,
        bold: bool = False,
    ) -> float:
        """Lines of text one under another; returns the top of the next line."""
        step = leading or 1.2 * size
        for text in texts:
            self.text(x, top, text, size=size, bold=bold)
            top += step
        return top

    def rule(self, x0: float, top: float, x1: float, bottom: float, width: float = 0.7) -> Page:
        """A stroked straight line from (x0, top) to (x1, bottom)."""
        self.ops.append(
            b"%.2f w %.2f %.2f m %.2f %.2f l S"
            % (width, x0, self.height - top, x1, self.height - bottom)
        )
        return self

    def grid(self, x_edges: Sequence[float], y_edges: Sequence[float]) -> Page:
        """Ruling lines of a table: a rule at every x and every y edge."""
        for y in y_edges:
            self.rule(x_edges[0], y, x_edges[-1], y)
        for x in x_edges:
            self.rule(x, y_edges[0], x, y_edges[-1])
        return self


def table_rows(
    page: Page,
    x_edges: Sequence[float],
    top: float,
    rows: Sequence[Sequence[str]],
    *,
    pitch: float = 16.0,
    header_bold: bool = True,
    ruled: bool = True,
) -> float:
    """Rows of cells, each cell its own text object; returns the table's bottom."""
    y_edges = [top + i * pitch for i in range(len(rows) + 1)]
    for index, row in enumerate(rows):
        for x, cell in zip(x_edges, row, strict=False):
            if cell:
                page.text(
                    x + 3, y_edges[index] + 3, cell, size=9.5, bold=header_bold and index == 0
                )
    if ruled:
        page.grid(x_edges, y_edges)
    return y_edges[-1]


def build_pdf(pages: Sequence[Page]) -> bytes:
    """A PDF of the given pages (fonts shared; an image page paints its image full size)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font_refs = []
    for name, body in FONTS.items():
        objects.append(body)
        font_refs.append(b"/%s %d 0 R" % (name, len(objects)))
    fonts = b"<< " + b" ".join(font_refs) + b" >>"
    kids = []
    for page in pages:
        content = b"\n".join(page.ops)
        xobjects = b""
        if page.image is not None:
            width, height, pixels = page.image
            objects.append(
                stream(
                    zlib.compress(pixels),
                    extra=b"/Filter /FlateDecode /Type /XObject /Subtype /Image /Width %d "
                    b"/Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 " % (width, height),
                )
            )
            xobjects = b" /XObject << /Im0 %d 0 R >>" % len(objects)
            content = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q\n" % (page.width, page.height) + content
        objects.append(stream(content, compress=True))
        contents = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /Font %s%s >> >>" % (page.width, page.height, contents, fonts, xobjects)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return assemble(objects)


def scanned(page: Page, *, dpi: int = 200) -> Page:
    """The same page as a scanner would give it: an image of it, and no text layer."""
    pdf = pdfium.PdfDocument(io.BytesIO(build_pdf([page])))
    try:
        bitmap = pdf[0].render(scale=dpi / 72, grayscale=True)
        image = bitmap.to_pil().convert("L")
    finally:
        pdf.close()
    return Page(page.width, page.height, image=(image.width, image.height, image.tobytes()))


# ---- documents of the tests -----------------------------------------------------------------

LAB_HEADER = ["Test", "Result", "Flag", "Units", "Reference Range"]
LAB_X = [54.0, 235.0, 306.0, 346.0, 432.0, 558.0]


def furnish(page: Page, number: int, total: int, *, banner: bool = True) -> Page:
    """Running header, patient banner and footer, as on every page of a clinical document."""
    page.text(54, 36, "Northfield Clinical Laboratory", size=11, bold=True)
    page.text(470, 38, "Laboratory Report", size=8.5)
    page.rule(54, 50, 558, 50)
    if banner:
        page.text(54, 56, "Patient: HOLLOWAY, Ruth   MRN: 4471203   DOB: 02/03/1951", size=8)
    page.text(54, 750, "Printed 01/09/2025 10:12", size=8)
    page.text(510, 750, f"Page {number} of {total}", size=8)
    return page
