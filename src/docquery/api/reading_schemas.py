"""Wire models of a page's reading: its blocks and tables, as /text returns them on request."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from docquery.domain.reading import Block, BlockKind, Table


class TextInclude(StrEnum):
    """Optional parts of each page in /text."""

    BLOCKS = "blocks"
    MARKDOWN = "markdown"


class CellOut(BaseModel):
    text: str
    header: str = Field(description="Text of the cell's column header; empty when none")


class RowOut(BaseModel):
    header: bool = Field(description="Whether this row names the columns below it")
    cells: list[CellOut]


class TableOut(BaseModel):
    table_id: str = Field(description="Shared by the parts of a table continued across pages")
    continued: bool = Field(description="Whether this part continues a table on a previous page")
    rows: list[RowOut]


class BlockOut(BaseModel):
    """One block of a page in reading order."""

    kind: BlockKind = Field(description="`furniture` is a repeated header, footer or page number")
    text: str
    bbox: list[float] = Field(
        description="x0, top, x1, bottom in PDF points from the page's top-left corner; "
        "all zero for pages read before blocks were stored"
    )
    section: list[str] = Field(description="The headings above the block, outermost first")
    level: int | None = Field(None, description="Heading level (1 is the outermost)")
    key: str | None = Field(None, description="For `key_value` blocks: the label")
    value: str | None = Field(None, description="For `key_value` blocks: the value")
    table: TableOut | None = None

    @classmethod
    def of(cls, block: Block) -> BlockOut:
        key_value = block.kind is BlockKind.KEY_VALUE
        return cls(
            kind=block.kind,
            text=block.text,
            bbox=[round(v, 2) for v in block.bbox],
            section=list(block.section),
            level=block.level or None,
            key=block.key if key_value else None,
            value=block.value if key_value else None,
            table=_table(block.table) if block.table is not None else None,
        )


def _table(table: Table) -> TableOut:
    return TableOut(
        table_id=table.table_id,
        continued=table.continued,
        rows=[
            RowOut(
                header=row.is_header,
                cells=[CellOut(text=c.text, header=c.header) for c in row.cells],
            )
            for row in table.rows
        ],
    )
