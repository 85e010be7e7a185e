"""The reading model: pages, their ordered blocks and the passages made from them, as plain data.

Boxes are (x0, top, x1, bottom) in PDF points with the origin at the page's top-left corner (y
grows downwards), the way a reader scans a page. The dict form is the stored artifact; its
`format` changes whenever a field changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

READING_FORMAT = 1

Box = tuple[float, float, float, float]


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    KEY_VALUE = "key_value"
    FURNITURE = "furniture"


class PageSource(StrEnum):
    TEXT_LAYER = "text_layer"
    OCR = "ocr"


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell; `header` is the text of its column's header cell ("" when none)."""

    text: str
    header: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One table row; a header row names the columns of the rows below it."""

    cells: tuple[Cell, ...]
    is_header: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of cells; `table_id` is shared by the parts of a table continued across pages."""

    rows: tuple[Row, ...]
    table_id: str
    continued: bool = False

    @property
    def header(self) -> Row | None:
        return next((row for row in self.rows if row.is_header), None)

    @property
    def body(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if not row.is_header)


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of a page in reading order, with its box and the headings above it."""

    kind: BlockKind
    text: str
    bbox: Box
    section: tuple[str, ...] = ()
    level: int = 0
    key: str = ""
    value: str = ""
    table: Table | None = None

    @property
    def is_content(self) -> bool:
        return self.kind is not BlockKind.FURNITURE


@dataclass(frozen=True, slots=True)
class PageReading:
    """How one page was read: its text, its blocks, and whether by text layer or OCR."""

    number: int
    text: str
    blocks: tuple[Block, ...]
    width: float
    height: float
    source: PageSource = PageSource.TEXT_LAYER
    ocr_confidence: float | None = None


@dataclass
class SectionStack:
    """The headings open above the current block while a document is read; they run on from
    page to page, and a heading closes every heading at its level or below."""

    stack: list[tuple[int, str]] = field(default_factory=list)

    def enter(self, level: int, text: str) -> tuple[str, ...]:
        """Open a heading; returns the path of the headings above it."""
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        above = self.path()
        self.stack.append((level, text))
        return above

    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.stack)


@dataclass(frozen=True, slots=True)
class Passage:
    """A block or a few adjacent blocks of one page, with their section path: a unit of search."""

    page: int
    text: str
    section: tuple[str, ...]
    bbox: Box
    kinds: tuple[BlockKind, ...] = field(default=())


def _box(value: Any) -> Box:
    x0, top, x1, bottom = (float(v) for v in value)
    return (x0, top, x1, bottom)


def table_to_dict(table: Table) -> dict[str, Any]:
    """The JSON-able form of a table."""
    return {
        "table_id": table.table_id,
        "continued": table.continued,
        "rows": [
            {
                "header": row.is_header,
                "cells": [{"text": c.text, "header": c.header} for c in row.cells],
            }
            for row in table.rows
        ],
    }


def table_from_dict(data: dict[str, Any]) -> Table:
    """A table from its JSON-able form."""
    rows = tuple(
        Row(
            cells=tuple(Cell(text=c["text"], header=c.get("header", "")) for c in row["cells"]),
            is_header=bool(row.get("header", False)),
        )
        for row in data["rows"]
    )
    return Table(rows=rows, table_id=data["table_id"], continued=bool(data.get("continued")))


def block_to_dict(block: Block) -> dict[str, Any]:
    """The JSON-able form of a block; empty optional fields are left out."""
    out: dict[str, Any] = {
        "kind": block.kind.value,
        "text": block.text,
        "bbox": [round(v, 2) for v in block.bbox],
        "section": list(block.section),
    }
    if block.level:
        out["level"] = block.level
    if block.kind is BlockKind.KEY_VALUE:
        out["key"], out["value"] = block.key, block.value
    if block.table is not None:
        out["table"] = table_to_dict(block.table)
    return out


def block_from_dict(data: dict[str, Any]) -> Block:
    """A block from its JSON-able form."""
    table = data.get("table")
    return Block(
        kind=BlockKind(data["kind"]),
        text=data["text"],
        bbox=_box(data["bbox"]),
        section=tuple(data.get("section", ())),
        level=int(data.get("level", 0)),
        key=data.get("key", ""),
        value=data.get("value", ""),
        table=table_from_dict(table) if table is not None else None,
    )


def page_to_dict(page: PageReading) -> dict[str, Any]:
    """The JSON-able form of a page reading (one entry of the artifact's `pages`)."""
    return {
        "number": page.number,
        "text": page.text,
        "width": round(page.width, 2),
        "height": round(page.height, 2),
        "source": page.source.value,
        "ocr_confidence": page.ocr_confidence,
        "blocks": [block_to_dict(b) for b in page.blocks],
    }


def page_from_dict(data: dict[str, Any]) -> PageReading:
    """A page reading from its JSON-able form."""
    confidence = data.get("ocr_confidence")
    return PageReading(
        number=int(data["number"]),
        text=data["text"],
        blocks=tuple(block_from_dict(b) for b in data["blocks"]),
        width=float(data["width"]),
        height=float(data["height"]),
        source=PageSource(data.get("source", PageSource.TEXT_LAYER.value)),
        ocr_confidence=float(confidence) if confidence is not None else None,
    )


def reading_to_dict(pages: list[PageReading] | tuple[PageReading, ...]) -> dict[str, Any]:
    """The versioned artifact of a document's reading."""
    return {"format": READING_FORMAT, "pages": [page_to_dict(p) for p in pages]}


def reading_from_dict(data: dict[str, Any]) -> list[PageReading]:
    """The pages of a stored artifact; an unknown format is refused rather than misread."""
    if data.get("format") != READING_FORMAT:
        raise ValueError(f"unsupported reading format: {data.get('format')!r}")
    return [page_from_dict(p) for p in data["pages"]]


def make_passages(page: PageReading, *, max_chars: int = 1200) -> list[Passage]:
    """Passages of one page: content blocks grouped under one section up to `max_chars`.

    A heading opens a passage; a table is a passage of its own; furniture is left out.
    """
    passages: list[Passage] = []
    group: list[Block] = []

    def flush() -> None:
        if group:
            passages.append(_passage(page.number, group))
            group.clear()

    for block in page.blocks:
        if not block.is_content:
            continue
        size = sum(len(b.text) + 1 for b in group)
        if (
            block.kind in (BlockKind.HEADING, BlockKind.TABLE)
            or (group and group[0].kind is BlockKind.TABLE)
            or (group and block.section != _inner(group[-1]))
            or size + len(block.text) > max_chars
        ):
            flush()
        group.append(block)
    flush()
    return passages


def _inner(block: Block) -> tuple[str, ...]:
    """The section a block opens (a heading) or stands in."""
    return (*block.section, block.text) if block.kind is BlockKind.HEADING else block.section


def _passage(number: int, blocks: list[Block]) -> Passage:
    boxes = [b.bbox for b in blocks]
    bbox = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    section = _inner(blocks[-1])
    return Passage(
        page=number,
        text="\n".join(b.text for b in blocks),
        section=section,
        bbox=bbox,
        kinds=tuple(b.kind for b in blocks),
    )
