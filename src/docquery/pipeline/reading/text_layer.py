"""A page's text layer through pdfium: words with their boxes and fonts, ruling lines, images.

pdfium is called once per character (its loose box, which spans the font's ascent and descent
so that every glyph of a line shares one height) and once per word for the font; that keeps a
born-digital page in about a millisecond. Form XObjects are entered, with their matrices, so
rules and images drawn inside them are found too.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from docquery.pipeline.reading.geometry import PageContent, Rule, Word

# Runs of printable characters other than spaces (pdfium writes \r\n and spaces of its own).
_RUN = re.compile(r"[^\s\x00-\x1f\x7f\ufffe\ufeff]+")
# Bold by name: standard fonts report no weight.
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")
_FORCE_BOLD = 1 << 18
_THIN = 2.5
_MAX_SEGMENTS = 400
_MAX_DEPTH = 4
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def page_content(page: pdfium.PdfPage) -> PageContent:
    """Words, rules and image coverage of one page, in top-left coordinates."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        words = _words(textpage, height)
    finally:
        textpage.close()
    rules: list[Rule] = []
    image_area = _walk(page, rules, height)
    coverage = min(1.0, image_area / (width * height)) if width * height > 0 else 0.0
    return PageContent(
        width=width, height=height, words=tuple(words), rules=tuple(rules), image_coverage=coverage
    )


def _words(textpage: pdfium.PdfTextPage, height: float) -> list[Word]:
    count = textpage.count_chars()
    if count <= 0:
        return []
    text = textpage.get_text_range(0, count)
    if len(text) != count:
        # Characters outside the BMP take two UTF-16 units: fall back to one call per character.
        text = "".join(chr(raw.FPDFText_GetUnicode(textpage, i) or 32) for i in range(count))
    handle = textpage.raw  # the raw handle: pypdfium2's wrapper costs a conversion per call
    fonts = _Fonts(handle)
    words: list[Word] = []
    first, last = raw.FS_RECTF(), raw.FS_RECTF()
    get_box = raw.FPDFText_GetLooseCharBox
    # pdfium puts a (generated) space or line break wherever glyphs stand apart, so a run of
    # non-space characters is usually one word: its first and last boxes give its box. A run
    # wider than its characters could be, or ending on another line, is split char by char.
    for match in _RUN.finditer(text):
        start, stop = match.span()
        get_box(handle, start, first)
        get_box(handle, stop - 1, last)
        top, bottom = height - first.top, height - first.bottom
        size, bold = fonts.at(start, bottom - top)
        mid = height - (last.top + last.bottom) / 2
        if last.right - first.left <= (stop - start) * size + 0.2 * size and top <= mid <= bottom:
            word = Word(match.group(), first.left, top, last.right, bottom, size, bold)
            words.append(word)
        else:
            words += _split_run(handle, fonts, text, start, stop, height)
    return words


def _split_run(
    handle: Any, fonts: _Fonts, text: str, start: int, stop: int, height: float
) -> list[Word]:
    """Words of a run of characters, split wherever a gap, a jump back or a new line falls."""
    words: list[Word] = []
    rect = raw.FS_RECTF()
    chars: list[str] = []
    x0 = top = x1 = bottom = size = 0.0
    bold = False
    for index in range(start, stop):
        raw.FPDFText_GetLooseCharBox(handle, index, rect)
        left, right = rect.left, rect.right
        c_top, c_bottom = height - rect.top, height - rect.bottom
        mid = (c_top + c_bottom) / 2
        if chars and (left < x0 or left - x1 > 0.2 * size or not top <= mid <= bottom):
            words.append(Word("".join(chars), x0, top, x1, bottom, size, bold))
            chars = []
        if chars:
            top, bottom, x1 = min(top, c_top), max(bottom, c_bottom), max(x1, right)
        else:
            x0, top, x1, bottom = left, c_top, right, c_bottom
            size, bold = fonts.at(index, c_bottom - c_top)
        chars.append(text[index])
    if chars:
        words.append(Word("".join(chars), x0, top, x1, bottom, size, bold))
    return words


class _Fonts:
    """Font size and weight at a character, the weight looked up once per font name."""

    def __init__(self, textpage: Any) -> None:
        self.textpage = textpage
        self.buffer = ctypes.create_string_buffer(128)
        self.flags = ctypes.c_int()
        self.bold: dict[tuple[bytes, int], bool] = {}

    def at(self, index: int, fallback: float) -> tuple[float, bool]:
        size = raw.FPDFText_GetFontSize(self.textpage, index) or fallback
        raw.FPDFText_GetFontInfo(self.textpage, index, self.buffer, 128, self.flags)
        key = (self.buffer.value, self.flags.value)
        bold = self.bold.get(key)
        if bold is None:
            name = key[0].decode("latin-1").lower()
            bold = bool(key[1] & _FORCE_BOLD) or any(b in name for b in _BOLD_NAMES)
            bold = bold or raw.FPDFText_GetFontWeight(self.textpage, index) >= 600
            self.bold[key] = bold
        return size, bold


def _walk(container: Any, rules: list[Rule], height: float) -> float:
    """Collect rules from path objects (forms entered); return the area images cover."""
    return _walk_objects(_objects(container), rules, height, _IDENTITY, 0)


def _objects(container: Any) -> list[Any]:
    if isinstance(container, pdfium.PdfPage):
        return [
            raw.FPDFPage_GetObject(container, i)
            for i in range(raw.FPDFPage_CountObjects(container))
        ]
    return [
        raw.FPDFFormObj_GetObject(container, i)
        for i in range(raw.FPDFFormObj_CountObjects(container))
    ]


def _walk_objects(
    objects: list[Any], rules: list[Rule], height: float, outer: Matrix, depth: int
) -> float:
    area = 0.0
    for obj in objects:
        kind = raw.FPDFPageObj_GetType(obj)
        if kind == raw.FPDF_PAGEOBJ_PATH:
            _path_rules(obj, _compose(_matrix(obj), outer), rules, height)
        elif kind == raw.FPDF_PAGEOBJ_IMAGE:
            x0, y0, x1, y1 = _transformed_box((0.0, 0.0, 1.0, 1.0), _compose(_matrix(obj), outer))
            area += (x1 - x0) * (y1 - y0)
        elif kind == raw.FPDF_PAGEOBJ_FORM and depth < _MAX_DEPTH:
            inner = [
                raw.FPDFFormObj_GetObject(obj, i) for i in range(raw.FPDFFormObj_CountObjects(obj))
            ]
            area += _walk_objects(inner, rules, height, _compose(_matrix(obj), outer), depth + 1)
    return area


def _matrix(obj: Any) -> Matrix:
    m = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, m):
        return _IDENTITY
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer  # noqa: N806
    return (
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


def _transformed_box(box: tuple[float, float, float, float], m: Matrix) -> tuple[float, ...]:
    corners = [_apply(m, x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return (min(xs), min(ys), max(xs), max(ys))


def _path_rules(obj: Any, m: Matrix, rules: list[Rule], height: float) -> None:
    """Axis-aligned straight segments of a path (and the sides of its rectangles) as rules."""
    count = raw.FPDFPath_CountSegments(obj)
    if count <= 0 or count > _MAX_SEGMENTS:
        return
    x, y = ctypes.c_float(), ctypes.c_float()
    start: tuple[float, float] | None = None
    last: tuple[float, float] | None = None
    for i in range(count):
        segment = raw.FPDFPath_GetPathSegment(obj, i)
        raw.FPDFPathSegment_GetPoint(segment, x, y)
        point = _apply(m, x.value, y.value)
        kind = raw.FPDFPathSegment_GetType(segment)
        if kind == raw.FPDF_SEGMENT_LINETO and last is not None:
            _add_rule(last, point, rules, height)
        if kind == raw.FPDF_SEGMENT_MOVETO:
            start = point
        last = point
        if raw.FPDFPathSegment_GetClose(segment) and start is not None:
            _add_rule(point, start, rules, height)
            last = start
    _thin_box(obj, m, count, rules, height)


def _add_rule(
    a: tuple[float, float], b: tuple[float, float], rules: list[Rule], height: float
) -> None:
    x0, x1 = sorted((a[0], b[0]))
    y0, y1 = sorted((a[1], b[1]))
    if (y1 - y0 <= _THIN and x1 - x0 > _THIN) or (x1 - x0 <= _THIN and y1 - y0 > _THIN):
        rules.append(Rule(x0, height - y1, x1, height - y0))


def _thin_box(obj: Any, m: Matrix, count: int, rules: list[Rule], height: float) -> None:
    # A filled rectangle a few points high is drawn as a line by many producers.
    if count > 6:
        return
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return
    x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
    if min(x1 - x0, y1 - y0) <= _THIN < max(x1 - x0, y1 - y0):
        rules.append(Rule(x0, height - y1, x1, height - y0))
