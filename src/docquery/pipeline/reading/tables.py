"""Tables as the reading model has them: the header row found, cells bound to their column's
header, and a table that goes on over a page break (its header row repeated) made one table."""

from __future__ import annotations

import re
from dataclasses import replace

from docquery.domain.reading import Block, BlockKind, Cell, Row, Table
from docquery.pipeline.reading.grids import TableFound

_DIGIT = re.compile(r"\d")


def to_table(found: TableFound, table_id: str) -> Table:
    """A table with its header row identified and every cell bound to its header."""
    rows = [tuple(r) for r in found.rows]
    header_at = 0 if rows and _is_header(rows, found.first_row_bold) else None
    names = rows[0] if header_at == 0 else ()
    out = []
    for index, row in enumerate(rows):
        cells = tuple(
            Cell(text=text, header=names[i] if i < len(names) else "") for i, text in enumerate(row)
        )
        out.append(Row(cells=cells, is_header=index == header_at))
    return Table(rows=tuple(out), table_id=table_id)


def _is_header(rows: list[tuple[str, ...]], bold: bool) -> bool:
    if len(rows) < 2:
        return False
    first = rows[0]
    if sum(bool(c) for c in first) < 2:
        return False
    if bold:
        return True
    # Names over numbers: the first row holds no digit while most rows below do.
    numeric = sum(bool(_DIGIT.search(" ".join(r))) for r in rows[1:])
    return not _DIGIT.search(" ".join(first)) and numeric >= 0.5 * (len(rows) - 1)


def link_continued(pages: list[list[Block]]) -> list[list[Block]]:
    """Give a table continued on the next page (same header row) the id of its first part."""
    out = [list(blocks) for blocks in pages]
    for index in range(1, len(out)):
        before = _last_content(out[index - 1])
        after = _first_content(out[index])
        if before is None or after is None:
            continue
        first, second = out[index - 1][before].table, out[index][after].table
        if first is None or second is None or not _continues(first, second):
            continue
        block = out[index][after]
        table = replace(second, table_id=first.table_id, continued=True)
        out[index][after] = replace(block, table=table, section=out[index - 1][before].section)
    return out


def _continues(first: Table, second: Table) -> bool:
    head_a, head_b = first.header, second.header
    if head_a is None or head_b is None:
        return False
    texts_a = [_norm(c.text) for c in head_a.cells]
    texts_b = [_norm(c.text) for c in head_b.cells]
    return texts_a == texts_b


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _last_content(blocks: list[Block]) -> int | None:
    for index in range(len(blocks) - 1, -1, -1):
        if blocks[index].kind is not BlockKind.FURNITURE:
            return index if blocks[index].kind is BlockKind.TABLE else None
    return None


def _first_content(blocks: list[Block]) -> int | None:
    for index, block in enumerate(blocks):
        if block.kind is BlockKind.FURNITURE:
            continue
        if block.kind is BlockKind.TABLE:
            return index
        # Only a "(continued)" line may stand above it: a heading starts another table.
        if "continued" not in block.text.lower():
            return None
    return None
