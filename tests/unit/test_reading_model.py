"""The reading model: its stored form, its Markdown, its passages."""

from __future__ import annotations

import json

import pytest

from docquery.domain.reading import (
    READING_FORMAT,
    Block,
    BlockKind,
    Cell,
    PageReading,
    PageSource,
    Row,
    Table,
    make_passages,
    reading_from_dict,
    reading_to_dict,
)
from docquery.text.markdown import render_markdown

TABLE = Table(
    rows=(
        Row((Cell("Test", "Test"), Cell("Result", "Result"), Cell("Flag", "Flag")), is_header=True),
        Row((Cell("Sodium", "Test"), Cell("134", "Result"), Cell("L", "Flag"))),
        Row((Cell("CRP | hs", "Test"), Cell("3", "Result"), Cell("", "Flag"))),
    ),
    table_id="p1t3",
)


def page() -> PageReading:
    box = (54.0, 100.0, 300.0, 112.0)
    return PageReading(
        number=1,
        text="whatever the page said",
        width=612.0,
        height=792.0,
        source=PageSource.OCR,
        ocr_confidence=0.91,
        blocks=(
            Block(BlockKind.FURNITURE, "Page 1 of 2", box),
            Block(BlockKind.HEADING, "Results", box, (), level=1),
            Block(
                BlockKind.KEY_VALUE, "ESR: 9 mm/hr", box, ("Results",), key="ESR", value="9 mm/hr"
            ),
            Block(BlockKind.TABLE, "table text", box, ("Results",), table=TABLE),
            Block(BlockKind.HEADING, "Plan", box, ("Results",), level=2),
            Block(BlockKind.LIST_ITEM, "1. Repeat sodium", box, ("Results", "Plan")),
            Block(BlockKind.PARAGRAPH, "# not a heading", box, ("Results", "Plan")),
        ),
    )


def test_the_artifact_round_trips_through_json() -> None:
    data = json.loads(json.dumps(reading_to_dict([page()])))
    assert data["format"] == READING_FORMAT
    assert reading_from_dict(data) == [page()]


def test_an_artifact_of_another_format_is_refused() -> None:
    data = reading_to_dict([page()])
    data["format"] = READING_FORMAT + 1
    with pytest.raises(ValueError, match="unsupported reading format"):
        reading_from_dict(data)


def test_markdown_leaves_furniture_out_and_keeps_structure() -> None:
    text = render_markdown([page()])
    assert "Page 1 of 2" not in text
    assert "# Results\n" in text
    assert "**ESR:** 9 mm/hr" in text
    assert "| Test | Result | Flag |\n|---|---|---|\n| Sodium | 134 | L |" in text
    assert "| CRP \\| hs | 3 |  |" in text
    assert "## Plan" in text
    assert "- 1. Repeat sodium" in text
    assert "\\# not a heading" in text


def test_passages_are_cut_at_headings_and_tables_and_skip_furniture() -> None:
    passages = make_passages(page())
    assert [p.kinds for p in passages] == [
        (BlockKind.HEADING, BlockKind.KEY_VALUE),
        (BlockKind.TABLE,),
        (BlockKind.HEADING, BlockKind.LIST_ITEM, BlockKind.PARAGRAPH),
    ]
    assert passages[0].section == ("Results",)
    assert passages[2].section == ("Results", "Plan")
    assert all(p.page == 1 and "Page 1 of 2" not in p.text for p in passages)
