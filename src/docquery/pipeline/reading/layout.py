"""One page's layout: words to lines, tables, and the page's items in reading order.

An item is a segment of a line (a phrase, a column's line, a label and its value) or a table.
Reading order is top to bottom, except in bands of the page that are set in two columns:
there the left column is read before the right one. A band is two-column when a vertical
gutter runs through it with at least three lines on each side; a line that crosses the gutter
(a full-width heading, a table) ends the band.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docquery.pipeline.reading.geometry import PageContent
from docquery.pipeline.reading.grids import TableFound, find_tables
from docquery.pipeline.reading.lines import Segment, build_lines

_MIN_GUTTER = 8.0
_MIN_SIDE_LINES = 3


@dataclass(slots=True)
class Item:
    """A segment or a table of a page; `furniture` is decided across the document's pages."""

    box: tuple[float, float, float, float]
    segment: Segment | None = None
    table: TableFound | None = None
    furniture: bool = False
    tags: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        if self.segment is not None:
            return self.segment.text
        assert self.table is not None
        return "\n".join(" | ".join(row) for row in self.table.rows)

    @property
    def x0(self) -> float:
        return self.box[0]

    @property
    def top(self) -> float:
        return self.box[1]

    @property
    def x1(self) -> float:
        return self.box[2]

    @property
    def bottom(self) -> float:
        return self.box[3]


def page_items(content: PageContent) -> list[Item]:
    """The page's segments and tables in reading order."""
    lines = build_lines(content.words)
    tables, rest = find_tables(lines, content.rules)
    items = [
        Item(box=(s.x0, s.top, s.x1, s.bottom), segment=s) for line in rest for s in line.segments
    ]
    items += [Item(box=t.box, table=t) for t in tables]
    return reading_order(items, content.width)


def reading_order(items: list[Item], width: float) -> list[Item]:
    """Items top to bottom, with two-column bands read column by column."""
    ordered: list[Item] = []
    for band in _bands(sorted(items, key=lambda i: (round(i.top, 1), i.x0))):
        ordered += _columns(band, width)
    return ordered


def _bands(items: list[Item]) -> list[list[Item]]:
    """Split at blank strips across the whole page taller than a line."""
    if not items:
        return []
    heights = sorted(i.bottom - i.top for i in items if i.segment is not None) or [10.0]
    limit = 1.0 * heights[len(heights) // 2]
    bands: list[list[Item]] = [[items[0]]]
    bottom = items[0].bottom
    for item in items[1:]:
        if item.top - bottom > limit:
            bands.append([])
        bands[-1].append(item)
        bottom = max(bottom, item.bottom)
    return bands


def _columns(items: list[Item], width: float) -> list[Item]:
    gutter = _gutter(items, width)
    if gutter is None:
        return _rows(items)
    ordered: list[Item] = []
    band: list[Item] = []
    for item in items:
        if item.x0 < gutter[0] and item.x1 > gutter[1]:
            ordered += _band(band, gutter)
            band = []
            ordered.append(item)
        else:
            band.append(item)
    ordered += _band(band, gutter)
    return ordered


def _rows(items: list[Item]) -> list[Item]:
    # Items whose middles share a line are read left to right.
    out: list[Item] = []
    for item in items:
        mid = (item.top + item.bottom) / 2
        index = len(out)
        while (
            index > 0
            and out[index - 1].top <= mid <= out[index - 1].bottom
            and out[index - 1].x0 > item.x0
        ):
            index -= 1
        out.insert(index, item)
    return out


def _band(band: list[Item], gutter: tuple[float, float]) -> list[Item]:
    left = [i for i in band if i.x1 <= gutter[0] + 0.5]
    right = [i for i in band if i.x0 >= gutter[1] - 0.5]
    if _lines(left) >= _MIN_SIDE_LINES and _lines(right) >= _MIN_SIDE_LINES:
        return _rows(left) + _rows(right)
    return _rows(band)


def _lines(items: list[Item]) -> int:
    return len({round(i.top) for i in items})


def _gutter(items: list[Item], width: float) -> tuple[float, float] | None:
    """The widest vertical strip in the middle of the page that no narrow item crosses."""
    if not items:
        return None
    left_edge = min(i.x0 for i in items)
    right_edge = max(i.x1 for i in items)
    span = right_edge - left_edge
    if span <= 0:
        return None
    narrow = [i for i in items if i.x1 - i.x0 < 0.6 * span]
    low, high = left_edge + 0.25 * span, left_edge + 0.75 * span
    cuts = sorted((max(i.x0, low), min(i.x1, high)) for i in narrow if i.x1 > low and i.x0 < high)
    best: tuple[float, float] | None = None
    cursor = low
    for x0, x1 in [*cuts, (high, high)]:
        if x0 - cursor >= _MIN_GUTTER and (best is None or x0 - cursor > best[1] - best[0]):
            best = (cursor, x0)
        cursor = max(cursor, x1)
    return best
