"""Builds Textract AnalyzeDocument (LAYOUT + TABLES) blocks shaped as botocore's model has them.

Textract's shape: a PAGE names its LINEs and LAYOUT_* blocks as CHILD; a LINE names its WORDs;
a layout block names its LINEs (a LAYOUT_LIST names a LAYOUT_TEXT per item); a TABLE names its
CELLs, a CELL its WORDs (the same WORD blocks the lines name). Boxes are ratios of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Raw = dict[str, Any]
Ratios = tuple[float, float, float, float]  # left, top, width, height


def geometry(box: Ratios) -> Raw:
    left, top, width, height = box
    return {
        "BoundingBox": {"Left": left, "Top": top, "Width": width, "Height": height},
        "Polygon": [
            {"X": left, "Y": top},
            {"X": left + width, "Y": top},
            {"X": left + width, "Y": top + height},
            {"X": left, "Y": top + height},
        ],
    }


def _children(ids: list[str]) -> list[Raw]:
    return [{"Type": "CHILD", "Ids": ids}] if ids else []


@dataclass
class Analysis:
    """Blocks in the order Textract answers them: per page, the PAGE then what it holds."""

    blocks: list[Raw] = field(default_factory=list)
    _count: int = 0

    def _id(self) -> str:
        self._count += 1
        return f"00000000-0000-0000-0000-{self._count:012d}"

    def page(self, number: int) -> Raw:
        block = {
            "BlockType": "PAGE",
            "Id": self._id(),
            "Page": number,
            "Geometry": geometry((0.0, 0.0, 1.0, 1.0)),
            "Relationships": [{"Type": "CHILD", "Ids": []}],
        }
        self.blocks.append(block)
        return block

    def line(self, page: Raw, text: str, box: Ratios, confidence: float = 99.0) -> Raw:
        """A LINE and its WORDs (words share the line's box, split evenly)."""
        words = text.split()
        left, top, width, height = box
        step = width / max(len(words), 1)
        word_ids = []
        line = {
            "BlockType": "LINE",
            "Id": self._id(),
            "Page": page["Page"],
            "Text": text,
            "Confidence": confidence,
            "Geometry": geometry(box),
        }
        self.blocks.append(line)
        for index, word in enumerate(words):
            word_id = self._id()
            word_ids.append(word_id)
            self.blocks.append(
                {
                    "BlockType": "WORD",
                    "Id": word_id,
                    "Page": page["Page"],
                    "Text": word,
                    "TextType": "PRINTED",
                    "Confidence": confidence,
                    "Geometry": geometry((left + index * step, top, step, height)),
                }
            )
        line["Relationships"] = _children(word_ids)
        page["Relationships"][0]["Ids"].append(line["Id"])
        return line

    def layout(self, page: Raw, kind: str, children: list[Raw], box: Ratios) -> Raw:
        block = {
            "BlockType": kind,
            "Id": self._id(),
            "Page": page["Page"],
            "Confidence": 90.0,
            "Geometry": geometry(box),
            "Relationships": _children([child["Id"] for child in children]),
        }
        self.blocks.append(block)
        page["Relationships"][0]["Ids"].append(block["Id"])
        return block

    def text(self, page: Raw, kind: str, text: str, box: Ratios) -> Raw:
        """A layout block over one line of text."""
        return self.layout(page, kind, [self.line(page, text, box)], box)

    def table(
        self, page: Raw, rows: list[list[str]], box: Ratios, *, header_rows: int = 1
    ) -> tuple[Raw, Raw]:
        """A LAYOUT_TABLE over one LINE per cell, and the TABLE of CELLs sharing their words."""
        left, top, width, height = box
        cell_w, cell_h = width / len(rows[0]), height / len(rows)
        lines, cells = [], []
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                cell_box = (left + c * cell_w, top + r * cell_h, cell_w, cell_h)
                line = self.line(page, text, cell_box) if text else None
                lines += [line] if line else []
                cell = {
                    "BlockType": "CELL",
                    "Id": self._id(),
                    "Page": page["Page"],
                    "Confidence": 95.0,
                    "RowIndex": r + 1,
                    "ColumnIndex": c + 1,
                    "RowSpan": 1,
                    "ColumnSpan": 1,
                    "Geometry": geometry(cell_box),
                    "Relationships": _children(line["Relationships"][0]["Ids"] if line else []),
                }
                if r < header_rows:
                    cell["EntityTypes"] = ["COLUMN_HEADER"]
                cells.append(cell)
        layout = self.layout(page, "LAYOUT_TABLE", lines, box)
        table = {
            "BlockType": "TABLE",
            "Id": self._id(),
            "Page": page["Page"],
            "Confidence": 95.0,
            "EntityTypes": ["STRUCTURED_TABLE"],
            "Geometry": geometry(box),
            "Relationships": _children([cell["Id"] for cell in cells]),
        }
        self.blocks += [table, *cells]
        return layout, table

    def merge(self, table: Raw, cells: list[Raw]) -> Raw:
        """A MERGED_CELL over `cells` (which keep their own span of 1, as Textract sends)."""
        merged = {
            "BlockType": "MERGED_CELL",
            "Id": self._id(),
            "Page": table["Page"],
            "RowIndex": min(c["RowIndex"] for c in cells),
            "ColumnIndex": min(c["ColumnIndex"] for c in cells),
            "RowSpan": len({c["RowIndex"] for c in cells}),
            "ColumnSpan": len({c["ColumnIndex"] for c in cells}),
            "Relationships": _children([c["Id"] for c in cells]),
        }
        self.blocks.append(merged)
        table["Relationships"].append({"Type": "MERGED_CELL", "Ids": [merged["Id"]]})
        return merged

    def cells(self, table: Raw) -> list[Raw]:
        ids = set(table["Relationships"][0]["Ids"])
        return [b for b in self.blocks if b["Id"] in ids]
