"""Page furniture, decided over the whole document: running headers and footers, page numbers,
patient banners. Marked, never dropped.

Three signs, none of them tied to particular words:
- repetition: the same line (digits aside) at about the same height on many pages, or, for a
  line with a label or a number in the top or bottom fifth of the page, at any height there
  (a banner that moves);
- page numbers: "Page 2 of 3", "2/3", "- 2 -" or a bare number, alone, in the top or bottom margin,
  or bare numbers alone in the outer fifth of the page that count up with the pages;
- isolation in the margin: a line in the outer 7% of the page, set apart from the body by a gap.
Tables are never furniture: a lab value "9" in a table is a value.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict

from docquery.pipeline.reading.layout import Item

_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013(\[]?\s*\d{1,4}\s*[-\u2013)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_MARGIN = 0.12  # page numbers are looked for in the outer 12% of the page
_EDGE = 0.07  # lone lines in the outer 7% are headers and footers
_BANNER_ZONE = 0.2
_SAME_HEIGHT = 0.03


def mark_furniture(pages: list[list[Item]], heights: list[float]) -> None:
    """Set `furniture` on the items of every page that are headers, footers, numbers, banners."""
    repeated = _repeated(pages, heights) | _numbered(pages, heights)
    for items, height in zip(pages, heights, strict=True):
        for item in items:
            if item.table is not None:
                continue
            if (
                id(item) in repeated
                or _page_number(item, items, height)
                or _isolated(item, items, height)
            ):
                item.furniture = True


def _keys(item: Item, height: float) -> list[str]:
    """The texts compared across pages: as printed, and in the margins with numbers as #.

    "Page 2 of 3" and a printed date differ from page to page; a lab line "Sodium: 134" that
    differs from "Sodium: 140" on the next page only by its number is content.
    """
    text = " ".join(item.text.lower().split())
    position = (item.top + item.bottom) / 2 / height
    if position < _MARGIN or position > 1 - _MARGIN:
        return [text, "#" + _DIGITS.sub("#", text)]
    return [text]


def _repeated(pages: list[list[Item]], heights: list[float]) -> set[int]:
    if len(pages) < 2:
        return set()
    need = max(2, math.ceil(0.5 * len(pages)))
    where: dict[str, list[tuple[int, float, Item]]] = defaultdict(list)
    for number, (items, height) in enumerate(zip(pages, heights, strict=True)):
        for item in items:
            if item.table is None and item.text.strip():
                for key in _keys(item, height):
                    where[key].append((number, item.top / height, item))
    marked: set[int] = set()
    for places in where.values():
        pages_with = len({n for n, _, _ in places})
        if pages_with < need:
            continue
        positions = sorted(p for _, p, _ in places)
        for _number, position, item in places:
            # A banner (name, record number, date of birth) may sit higher on the first page.
            in_zone = _banner_like(item.text) and (
                position < _BANNER_ZONE or position > 1 - _BANNER_ZONE
            )
            lo = bisect.bisect_left(positions, position - _SAME_HEIGHT)
            near = bisect.bisect_right(positions, position + _SAME_HEIGHT) - lo
            if in_zone or near >= need:
                marked.add(id(item))
    return marked


def _numbered(pages: list[list[Item]], heights: list[float]) -> set[int]:
    """Bare numbers alone on their line in the margins that count up with the pages."""
    if len(pages) < 2:
        return set()
    by_offset: dict[int, list[Item]] = defaultdict(list)
    for number, (items, height) in enumerate(zip(pages, heights, strict=True), start=1):
        for item in items:
            text = item.text.strip()
            middle = (item.top + item.bottom) / 2 / height
            if (
                item.table is None
                and text.isdigit()
                and len(text) <= 4
                and not _BANNER_ZONE < middle < 1 - _BANNER_ZONE
                and not any(o is not item and _same_line(item, o) for o in items)
            ):
                by_offset[int(text) - number].append(item)
    need = max(2, math.ceil(0.5 * len(pages)))
    return {id(i) for items in by_offset.values() if len(items) >= need for i in items}


def _banner_like(text: str) -> bool:
    return ":" in text or any(c.isdigit() for c in text)


def _page_number(item: Item, items: list[Item], height: float) -> bool:
    """ "Page 2 of 3" or "2/3" in the margin; a bare number only alone on its line at the edge."""
    text = item.text.strip()
    if not _PAGE_NUMBER.match(text):
        return False
    position = (item.top + item.bottom) / 2 / height
    if text.isdigit() or text.strip("-\u2013()[] ").isdigit():
        # A lone "9" near the top may be a lab value in a row whose other cells are apart.
        alone = not any(o is not item and _same_line(item, o) for o in items)
        return alone and (position < _EDGE or position > 1 - _EDGE)
    return position < _MARGIN or position > 1 - _MARGIN


def _isolated(item: Item, items: list[Item], height: float) -> bool:
    """A line in the outer edge of the page with a clear gap between it and the body.

    A page with no body (its only lines are up there) has nothing to set the line apart from:
    the line is the page's content, not its furniture.
    """
    top, bottom = item.top / height, item.bottom / height
    if top > _EDGE and bottom < 1 - _EDGE:
        return False
    line = max(item.bottom - item.top, 1.0)
    upper = top <= _EDGE
    body = False
    for other in items:
        if other is item or _same_line(item, other):
            continue
        if upper and other.top >= item.top:
            gap = other.top - item.bottom
        elif not upper and other.bottom <= item.bottom:
            gap = item.top - other.bottom
        else:
            continue
        if _edge(other, height, upper):
            continue
        if gap < 1.5 * line:
            return False
        body = True
    return body


def _edge(item: Item, height: float, upper: bool) -> bool:
    return item.top / height <= _EDGE if upper else item.bottom / height >= 1 - _EDGE


def _same_line(a: Item, b: Item) -> bool:
    mid = (a.top + a.bottom) / 2
    return b.top <= mid <= b.bottom
