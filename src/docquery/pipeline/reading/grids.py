"""Tables on one page: ruled grids (from the ruling lines) and whitespace-aligned columns.

A found table is a box and rows of cell texts (`TableFound`); which row is the header and how
tables continue across pages is decided later (tables.py). The words a table takes are removed
from the page's lines so that nothing is read twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from docquery.pipeline.reading.geometry import Rule, Word
from docquery.pipeline.reading.lines import Line, Segment

_MERGE = 2.0  # rules closer than this (points) are one rule
_CHAIN_GAP = 80.0  # horizontal rules further apart than this do not bound rows of one table
_MIN_COLUMNS = 3


@dataclass(frozen=True, slots=True)
class TableFound:
    """A table on one page: its box, its rows of cell texts, and whether its first row is bold."""

    box: tuple[float, float, float, float]
    rows: tuple[tuple[str, ...], ...]
    first_row_bold: bool = False
    ruled: bool = False


def find_tables(lines: list[Line], rules: Sequence[Rule]) -> tuple[list[TableFound], list[Line]]:
    """Tables of a page and the lines left outside them."""
    tables: list[TableFound] = []
    for box in _ruled_boxes(rules, [r for r in rules if not r.horizontal]):
        inside, lines = _take(lines, box)
        verticals = _verticals(rules, box)
        table = _ruled_table(inside, box, _horizontals(rules, box), verticals)
        if table is not None:
            tables.append(table)
        else:
            lines = sorted(lines + inside, key=lambda line: line.top)
    aligned, lines = _aligned_tables(lines)
    return tables + aligned, lines


def _ruled_boxes(
    rules: Sequence[Rule], verticals: list[Rule]
) -> list[tuple[float, float, float, float]]:
    """Boxes of runs of at least three horizontal rules of about the same width, near each other.

    Where vertical rules are drawn, two horizontal rules bound rows of one table only if a
    vertical rule joins them: the gap between two ruled tables has none.
    """
    horizontal = sorted((r for r in rules if r.horizontal), key=lambda r: r.top)
    boxes: list[tuple[float, float, float, float]] = []
    run: list[Rule] = []
    for rule in horizontal:
        if run and _same_table(run[-1], rule, run) and _joined(run[-1], rule, verticals):
            run.append(rule)
            continue
        _close_run(run, boxes)
        run = [rule]
    _close_run(run, boxes)
    return boxes


def _same_table(last: Rule, rule: Rule, run: list[Rule]) -> bool:
    x0, x1 = run[0].x0, run[0].x1
    overlap = min(x1, rule.x1) - max(x0, rule.x0)
    width = min(x1 - x0, rule.x1 - rule.x0)
    widest = max(x1 - x0, rule.x1 - rule.x0)
    return rule.top - last.top <= _CHAIN_GAP and overlap >= 0.8 * width and width >= 0.8 * widest


def _joined(upper: Rule, lower: Rule, verticals: list[Rule]) -> bool:
    x0, x1 = max(upper.x0, lower.x0), min(upper.x1, lower.x1)
    near = [v for v in verticals if x0 - _MERGE <= v.x0 <= x1 + _MERGE]
    touching = [v for v in near if v.top - _MERGE <= lower.top and v.bottom + _MERGE >= upper.top]
    if not touching:
        return True  # no vertical rules here: only the distance decides
    return any(v.top - _MERGE <= upper.top and v.bottom + _MERGE >= lower.top for v in touching)


def _close_run(run: list[Rule], boxes: list[tuple[float, float, float, float]]) -> None:
    tops = _merge_positions([r.top for r in run])
    if len(tops) >= 3:
        boxes.append((min(r.x0 for r in run), tops[0], max(r.x1 for r in run), tops[-1] + _MERGE))


def _merge_positions(values: list[float]) -> list[float]:
    merged: list[float] = []
    for value in sorted(values):
        if not merged or value - merged[-1] > _MERGE:
            merged.append(value)
    return merged


def _horizontals(rules: Sequence[Rule], box: tuple[float, float, float, float]) -> list[float]:
    x0, top, x1, bottom = box
    return _merge_positions(
        [
            r.top
            for r in rules
            if r.horizontal
            and top - _MERGE <= r.top <= bottom + _MERGE
            and r.x1 - r.x0 > 0.5 * (x1 - x0)
        ]
    )


def _verticals(rules: Sequence[Rule], box: tuple[float, float, float, float]) -> list[float]:
    x0, top, x1, bottom = box
    return _merge_positions(
        [
            r.x0
            for r in rules
            if not r.horizontal
            and x0 - _MERGE <= r.x0 <= x1 + _MERGE
            and min(bottom, r.bottom) - max(top, r.top) > 0.3 * (bottom - top)
        ]
    )


def _take(
    lines: list[Line], box: tuple[float, float, float, float]
) -> tuple[list[Line], list[Line]]:
    """Split lines into those inside the box (by their middle) and the rest."""
    x0, top, x1, bottom = box
    inside, outside = [], []
    for line in lines:
        mid = (line.top + line.bottom) / 2
        if top <= mid <= bottom and line.x0 >= x0 - _MERGE and line.x1 <= x1 + _MERGE:
            inside.append(line)
        else:
            outside.append(line)
    return inside, outside


def _ruled_table(
    lines: list[Line],
    box: tuple[float, float, float, float],
    rows_y: list[float],
    cols_x: list[float],
) -> TableFound | None:
    words = [w for line in lines for s in line.segments for w in s.words]
    if not words:
        return None
    ruled_columns = len(cols_x) >= 3
    if not ruled_columns:
        cols = _columns_from_text([s for line in lines for s in line.segments])
        cols_x = [box[0]] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(cols)] + [box[2]]
    if len(cols_x) - 1 < 2:
        return None
    bands = list(itertools.pairwise(rows_y))
    per_band = [
        [line for line in lines if a <= (line.top + line.bottom) / 2 <= b] for a, b in bands
    ]
    if not ruled_columns and sum(len(b) == 1 for b in per_band) < 0.7 * len(per_band):
        # Rules without a vertical grid that do not part every row (a rule under each header,
        # one under each table): the column alignment finds these tables, one by one.
        return None
    if len(bands) < 4 and any(len(b) > 1 for b in per_band):
        # Few rules (an outer box, a rule under the header): each text line is a row.
        grid_rows = [[line] for line in lines]
    else:
        grid_rows = [b for b in per_band if b]
    rows = [_cells(row, cols_x) for row in grid_rows]
    rows = _merge_wrapped(rows)
    if sum(sum(bool(c) for c in row) >= 2 for row in rows) < max(2, len(rows) / 2):
        return None  # rules between paragraphs (headings underlined), not a grid of cells
    first_bold = bool(grid_rows) and all(line.bold for line in grid_rows[0])
    return TableFound(box=box, rows=tuple(rows), first_row_bold=first_bold, ruled=True)


def _cells(lines: list[Line], cols_x: list[float]) -> tuple[str, ...]:
    cells: list[list[str]] = [[] for _ in range(len(cols_x) - 1)]
    for line in lines:
        for segment in line.segments:
            for word in segment.words:
                cells[_column_of(word, cols_x)].append(word.text)
    return tuple(" ".join(c) for c in cells)


def _column_of(word: Word, cols_x: list[float]) -> int:
    mid = (word.x0 + word.x1) / 2
    for index in range(len(cols_x) - 1):
        if mid < cols_x[index + 1]:
            return index
    return len(cols_x) - 2


def _merge_wrapped(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """A row whose first cell is empty continues the row above (a wrapped cell)."""
    merged: list[tuple[str, ...]] = []
    for row in rows:
        if merged and not row[0] and any(row):
            merged[-1] = tuple(
                " ".join(p for p in (a, b) if p) for a, b in zip(merged[-1], row, strict=True)
            )
        elif any(row):
            merged.append(row)
    return merged


def _columns_from_text(segments: Sequence[Segment]) -> list[tuple[float, float]]:
    """Column extents: the union of overlapping segment extents, left to right."""
    spans: list[tuple[float, float]] = []
    for x0, x1 in sorted((s.x0, s.x1) for s in segments):
        if spans and x0 <= spans[-1][1] + 1.0:
            spans[-1] = (spans[-1][0], max(spans[-1][1], x1))
        else:
            spans.append((x0, x1))
    return spans


def _aligned_tables(lines: list[Line]) -> tuple[list[TableFound], list[Line]]:
    """Runs of lines that split into the same three or more columns."""
    tables: list[TableFound] = []
    rest: list[Line] = []
    run: list[Line] = []
    for line in [*lines, None]:
        if line is not None and run and _wrapped_cell(run, line):
            run.append(line)
            continue
        if line is not None and len(line.segments) >= 2 and (not run or _close(run[-1], line)):
            run.append(line)
            continue
        table = _aligned_table(run)
        if table is None:
            rest.extend(run)
        else:
            tables.append(table)
        run = []
        if line is not None:
            (run if len(line.segments) >= 2 else rest).append(line)
    rest.sort(key=lambda line: line.top)
    return tables, rest


def _wrapped_cell(run: list[Line], line: Line) -> bool:
    """A line of one segment inside a run, right of its first column: a cell's second line."""
    first = min(r.x0 for r in run)
    return (
        len(line.segments) == 1
        and len(run) >= 2
        and line.x0 > first + 10.0
        and line.x1 <= max(r.x1 for r in run) + 1.0
        and _close(run[-1], line)
    )


def _close(above: Line, below: Line) -> bool:
    return below.top - above.bottom <= 1.5 * max(above.size, below.size)


def _aligned_table(run: list[Line]) -> TableFound | None:
    wide = [line for line in run if len(line.segments) >= _MIN_COLUMNS]
    if len(wide) < 2 or (len(run) < 3 and len(wide) < len(run)):
        return None  # two lines make a table only if both split into three or more cells
    segments = [s for line in run for s in line.segments]
    if sum(s.text.endswith(":") for s in segments) > 0.3 * len(segments):
        return None  # label: value pairs laid out in columns (a patient banner), not a table
    spans = _columns_from_text(segments)
    if len(spans) < _MIN_COLUMNS or _prose(segments, spans):
        return None
    cols_x = [spans[0][0]] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(spans)]
    cols_x.append(spans[-1][1])
    rows = _merge_wrapped([_cells([line], cols_x) for line in run])
    box = (
        spans[0][0],
        min(line.top for line in run),
        spans[-1][1],
        max(line.bottom for line in run),
    )
    return TableFound(box=box, rows=tuple(rows), first_row_bold=run[0].bold)


def _prose(segments: Sequence[Segment], spans: list[tuple[float, float]]) -> bool:
    # Columns of running text: most segments are long sentences, not cells.
    long = sum(len(s.words) >= 8 for s in segments)
    return long > 0.5 * len(segments)
