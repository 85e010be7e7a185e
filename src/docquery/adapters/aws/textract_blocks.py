"""Textract's AnalyzeDocument blocks (LAYOUT and TABLES) as the reading model's pages.

Layout blocks come in Textract's reading order and name their lines (or, for a list, their
items) as CHILD relationships; a TABLE block names its CELLs, and a cell its WORDs. A layout
table is bound to the TABLE that shares its words (or, failing that, its box). Boxes are ratios
of the page in Textract and points here, converted with the page's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docquery.adapters.aws.textract_tables import cell_words, child_ids, table_rows
from docquery.domain.reading import (
    Block,
    BlockKind,
    Box,
    PageReading,
    PageSource,
    SectionStack,
    Table,
)

# US Letter, in points: the size assumed for a page whose real size the caller did not give.
DEFAULT_PAGE_SIZE = (612.0, 792.0)

_FURNITURE = frozenset({"LAYOUT_HEADER", "LAYOUT_FOOTER", "LAYOUT_PAGE_NUMBER"})
_HEADING_LEVELS = {"LAYOUT_TITLE": 1, "LAYOUT_SECTION_HEADER": 2}
# A layout table and a TABLE block whose boxes overlap this much (of the smaller) are one table.
_MIN_OVERLAP = 0.5

Raw = dict[str, Any]


def pages_from_blocks(
    blocks: Iterable[Raw],
    *,
    page_count: int,
    sizes: Mapping[int, tuple[float, float]] | None = None,
) -> list[PageReading]:
    """One PageReading per page (1..page_count, or further if a block names a later page)."""
    by_id: dict[str, Raw] = {}
    by_page: dict[int, list[Raw]] = {}
    for block in blocks:
        by_id[str(block.get("Id", ""))] = block
        by_page.setdefault(int(block.get("Page", 1)), []).append(block)
    count = max(page_count, max(by_page, default=0))
    sections = SectionStack()
    pages = []
    for number in range(1, count + 1):
        width, height = (sizes or {}).get(number, DEFAULT_PAGE_SIZE)
        page = _Page(number, width, height, by_id, by_page.get(number, []), sections)
        pages.append(page.reading())
    return pages


class _Page:
    """The blocks of one page, converted in Textract's layout order."""

    def __init__(
        self,
        number: int,
        width: float,
        height: float,
        by_id: Mapping[str, Raw],
        own: list[Raw],
        sections: SectionStack,
    ) -> None:
        self.number, self.width, self.height = number, width, height
        self.by_id, self.own, self.sections = by_id, own, sections
        self.blocks: list[Block] = []
        self.lines: dict[str, Raw] = {}
        self.tables = [b for b in own if b.get("BlockType") == "TABLE"]

    def reading(self) -> PageReading:
        layouts = [b for b in self.own if str(b.get("BlockType", "")).startswith("LAYOUT_")]
        # A list's items are layout blocks too: they are read as part of their list.
        nested = {i for b in layouts for i in child_ids(b)}
        for raw in layouts:
            if str(raw.get("Id", "")) not in nested:
                self._layout(str(raw["BlockType"]), raw)
        for table in self.tables:  # tables no layout block claimed: kept, after the rest
            self._table(table, table)
        self._leftover_lines()
        lines = list(self.lines.values())
        confidences = [float(line.get("Confidence", 0.0)) for line in lines]
        return PageReading(
            number=self.number,
            text="\n".join(str(line.get("Text", "")) for line in lines),
            blocks=tuple(self.blocks),
            width=self.width,
            height=self.height,
            source=PageSource.OCR,
            ocr_confidence=(
                round(sum(confidences) / len(confidences) / 100.0, 4) if confidences else None
            ),
        )

    def _layout(self, kind: str, raw: Raw) -> None:
        if kind == "LAYOUT_LIST":
            self._list(raw)
            return
        lines = self._lines_of(raw)
        text = " ".join(str(line.get("Text", "")).strip() for line in lines).strip()
        box = self._box(raw)
        if kind == "LAYOUT_KEY_VALUE":
            self._key_values(lines, box)
        elif kind == "LAYOUT_TABLE" and (table := self._claim_table(raw, lines)) is not None:
            self._table(table, raw)
        elif text:
            self.blocks.append(self._text_block(kind, text, box))

    def _text_block(self, kind: str, text: str, box: Box) -> Block:
        """Furniture, a heading (which opens a section) or a paragraph."""
        if kind in _FURNITURE:
            return Block(BlockKind.FURNITURE, text, box)
        if kind in _HEADING_LEVELS:
            level = _HEADING_LEVELS[kind]
            section = self.sections.enter(level, text)
            return Block(BlockKind.HEADING, text, box, section, level=level)
        # LAYOUT_TEXT, LAYOUT_FIGURE, and a layout table without its TABLE: the words there.
        return Block(BlockKind.PARAGRAPH, text, box, self.sections.path())

    def _list(self, raw: Raw) -> None:
        """A list's items: its LAYOUT_TEXT children, or its lines when it names lines."""
        for child in self._children(raw):
            lines = [child] if child.get("BlockType") == "LINE" else self._lines_of(child)
            self._record(lines)
            item = " ".join(str(line.get("Text", "")).strip() for line in lines).strip()
            if item:
                path = self.sections.path()
                self.blocks.append(Block(BlockKind.LIST_ITEM, item, self._box(child), path))

    def _key_values(self, lines: list[Raw], box: Box) -> None:
        """One key_value block per "label: value" line; a line without a label continues it."""
        pairs: list[list[str]] = []
        for line in lines:
            text = str(line.get("Text", "")).strip()
            key, colon, value = text.partition(":")
            if colon and key.strip():
                pairs.append([key.strip(), value.strip()])
            elif pairs:
                pairs[-1][1] = f"{pairs[-1][1]} {text}".strip()
            elif text:
                self.blocks.append(Block(BlockKind.PARAGRAPH, text, box, self.sections.path()))
        for key, value in pairs:
            self.blocks.append(
                Block(
                    BlockKind.KEY_VALUE,
                    f"{key}: {value}",
                    box,
                    self.sections.path(),
                    key=key,
                    value=value,
                )
            )

    def _table(self, table: Raw, layout: Raw) -> None:
        rows = table_rows(table, self.by_id)
        if not rows:
            return
        index = sum(b.kind is BlockKind.TABLE for b in self.blocks)
        model = Table(rows=rows, table_id=f"p{self.number}t{index}")
        text = "\n".join(" ".join(c.text for c in row.cells if c.text) for row in rows)
        self.blocks.append(
            Block(BlockKind.TABLE, text, self._box(layout), self.sections.path(), table=model)
        )

    def _claim_table(self, layout: Raw, lines: list[Raw]) -> Raw | None:
        """The TABLE block this layout table shows: shared words first, overlapping box next."""
        words = {w for line in lines for w in child_ids(line)}
        best = max(self.tables, key=lambda t: len(words & cell_words(t, self.by_id)), default=None)
        if best is None or not words & cell_words(best, self.by_id):
            best = next((t for t in self.tables if _overlap(t, layout) >= _MIN_OVERLAP), None)
        if best is not None:
            self.tables.remove(best)
        return best

    def _lines_of(self, raw: Raw) -> list[Raw]:
        """The LINE blocks under a layout block (nested layout blocks followed)."""
        found: list[Raw] = []
        for child in self._children(raw):
            if child.get("BlockType") == "LINE":
                found.append(child)
            elif str(child.get("BlockType", "")).startswith("LAYOUT_"):
                found.extend(self._lines_of(child))
        self._record(found)
        return found

    def _record(self, lines: list[Raw]) -> None:
        """Lines join the page text in the order the layout reads them, each once."""
        for line in lines:
            self.lines.setdefault(str(line.get("Id", "")), line)

    def _leftover_lines(self) -> None:
        """Lines outside every layout block still belong to the page text, in Textract order."""
        self._record([b for b in self.own if b.get("BlockType") == "LINE"])

    def _children(self, raw: Raw) -> list[Raw]:
        return [self.by_id[i] for i in child_ids(raw) if i in self.by_id]

    def _box(self, raw: Raw) -> Box:
        return box_points(raw, self.width, self.height)


def box_points(raw: Raw, width: float, height: float) -> Box:
    """Textract's BoundingBox (ratios of the page) in points, top-left origin."""
    box = raw.get("Geometry", {}).get("BoundingBox", {})
    left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
    right, bottom = left + float(box.get("Width", 0.0)), top + float(box.get("Height", 0.0))
    return (left * width, top * height, right * width, bottom * height)


def _overlap(a: Raw, b: Raw) -> float:
    """The shared area of two blocks' boxes, as a share of the smaller."""
    ax0, ay0, ax1, ay1 = box_points(a, 1.0, 1.0)
    bx0, by0, bx1, by1 = box_points(b, 1.0, 1.0)
    shared = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return shared / smaller if smaller > 0 else 0.0
