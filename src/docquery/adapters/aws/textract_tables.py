"""Textract's TABLE blocks as the reading model's tables: cells placed by row and column
(spans and merged cells filled in), leading COLUMN_HEADER rows made one header row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docquery.domain.reading import Cell, Row

Raw = dict[str, Any]


def table_rows(table: Raw, by_id: Mapping[str, Raw]) -> tuple[Row, ...]:
    """The table's rows; leading rows of COLUMN_HEADER cells become one header row."""
    grid: dict[tuple[int, int], str] = {}
    header_cells: set[tuple[int, int]] = set()
    for cell in (by_id[i] for i in child_ids(table) if i in by_id):
        if cell.get("BlockType") != "CELL":
            continue
        row, col = int(cell.get("RowIndex", 1)), int(cell.get("ColumnIndex", 1))
        text = _words_text(cell, by_id)
        # A spanning cell's text stands in every position it covers: a row keeps its value.
        for r in range(row, row + int(cell.get("RowSpan", 1))):
            for c in range(col, col + int(cell.get("ColumnSpan", 1))):
                grid[(r, c)] = text
                if "COLUMN_HEADER" in cell.get("EntityTypes", ()):
                    header_cells.add((r, c))
    _spread_merged(table, by_id, grid)
    if not grid:
        return ()
    height = max(r for r, _ in grid)
    width = max(c for _, c in grid)
    texts = [[grid.get((r, c), "") for c in range(1, width + 1)] for r in range(1, height + 1)]
    heads = 0
    while heads < height and any((heads + 1, c) in header_cells for c in range(1, width + 1)):
        heads += 1
    names = [_join_unique(texts[r][c] for r in range(heads)) for c in range(width)]
    out = [Row(tuple(Cell(n, n) for n in names), is_header=True)] if heads else []
    out += [
        Row(tuple(Cell(t, names[c] if heads else "") for c, t in enumerate(texts[r])))
        for r in range(heads, height)
    ]
    return tuple(out)


def _spread_merged(table: Raw, by_id: Mapping[str, Raw], grid: dict[tuple[int, int], str]) -> None:
    """A MERGED_CELL's text (its cells' words) in each cell it covers."""
    for rel in table.get("Relationships", ()):
        if rel.get("Type") != "MERGED_CELL":
            continue
        for merged in (by_id[i] for i in rel.get("Ids", ()) if i in by_id):
            cells = [by_id[i] for i in child_ids(merged) if i in by_id]
            text = " ".join(t for c in cells if (t := _words_text(c, by_id)))
            for cell in cells:
                grid[(int(cell.get("RowIndex", 1)), int(cell.get("ColumnIndex", 1)))] = text


def _join_unique(texts: Iterable[str]) -> str:
    out: list[str] = []
    for text in texts:
        if text and text not in out:
            out.append(text)
    return " ".join(out)


def child_ids(raw: Raw) -> list[str]:
    return [
        str(i)
        for rel in raw.get("Relationships", ())
        if rel.get("Type") == "CHILD"
        for i in rel.get("Ids", ())
    ]


def _words_text(cell: Raw, by_id: Mapping[str, Raw]) -> str:
    words = (by_id[i] for i in child_ids(cell) if i in by_id)
    return " ".join(str(w.get("Text", "")) for w in words if w.get("BlockType") == "WORD")


def cell_words(table: Raw, by_id: Mapping[str, Raw]) -> set[str]:
    return {
        w for cell_id in child_ids(table) if cell_id in by_id for w in child_ids(by_id[cell_id])
    }
