"""A document's items into blocks: lines joined into paragraphs and list items, headings ranked
into levels and carried as section paths across pages, tables and furniture kept as they are."""

from __future__ import annotations

from dataclasses import dataclass

from docquery.domain.reading import Block, BlockKind, SectionStack
from docquery.pipeline.reading import classify
from docquery.pipeline.reading.classify import Style
from docquery.pipeline.reading.layout import Item
from docquery.pipeline.reading.tables import to_table

# A value longer than this after an inline label reads as a section, not a field.
_LONG_VALUE = 80


@dataclass
class _Open:
    """The block being built: its kind, its lines' texts and its box."""

    kind: BlockKind
    parts: list[str]
    box: list[float]
    size: float
    key: str = ""
    level: int = 0
    section: tuple[str, ...] = ()
    last: Item | None = None


def build_blocks(pages: list[list[Item]]) -> list[list[Block]]:
    """Blocks of every page, in reading order; section paths run on from page to page."""
    content = [i for items in pages for i in items if not i.furniture]
    body = classify.body_size(content)
    styles = {id(i): s for i in content if (s := classify.heading_style(i, body)) is not None}
    ranks = classify.levels(styles.values())
    builder = _Builder(styles, ranks, inline_level=len(ranks) + 1)
    out = []
    for number, items in enumerate(pages, start=1):
        out.append(builder.page(number, items))
    return out


class _Builder:
    def __init__(
        self, styles: dict[int, Style], ranks: dict[Style, int], inline_level: int
    ) -> None:
        self.styles = styles
        self.ranks = ranks
        self.inline_level = inline_level
        self.sections = SectionStack()
        self.blocks: list[Block] = []
        self.open: _Open | None = None

    def page(self, number: int, items: list[Item]) -> list[Block]:
        self.blocks = []
        for index, item in enumerate(items):
            if item.furniture:
                self._close()
                self.blocks.append(Block(BlockKind.FURNITURE, item.text, item.box, ()))
            elif item.table is not None:
                self._close()
                table = to_table(item.table, f"p{number}t{index}")
                self.blocks.append(
                    Block(BlockKind.TABLE, item.text, item.box, self.sections.path(), table=table)
                )
            else:
                following = items[index + 1] if index + 1 < len(items) else None
                self._line(item, following)
        self._close()
        return self.blocks

    def _line(self, item: Item, following: Item | None) -> None:
        text = item.text.strip()
        style = self.styles.get(id(item))
        if self.open is not None and self._continues(self.open, item, style):
            self._extend(item, text)
            return
        self._close()
        if style is not None:
            self._open(
                BlockKind.HEADING, item, classify.heading_text(text), level=self.ranks[style]
            )
        elif classify.title_like(text) and _indented_under(item, following):
            # A short title over an indented group: a heading even without a bold font
            # (OCR reports no weight).
            self._open(BlockKind.HEADING, item, text, level=self.inline_level)
        elif classify.list_item(text):
            self._open(BlockKind.LIST_ITEM, item, text)
        elif (pair := classify.key_value(text)) is not None:
            self._label(item, *pair)
        else:
            self._open(BlockKind.PARAGRAPH, item, text)

    def _label(self, item: Item, key: str, value: str) -> None:
        if classify.section_label(key, value) or len(value) > _LONG_VALUE:
            # An inline section header ("FINDINGS: ..."): a heading, then its paragraph.
            self._open(BlockKind.HEADING, item, key, level=self.inline_level)
            self._close()
            self._open(BlockKind.PARAGRAPH, item, value)
            return
        self._open(BlockKind.KEY_VALUE, item, value, key=key)

    def _continues(self, block: _Open, item: Item, style: Style | None) -> bool:
        last = block.last
        assert last is not None
        assert item.segment is not None
        size = item.segment.size
        gap = item.top - last.bottom
        if gap < -0.5 * size or gap > 0.75 * size or abs(size - block.size) > 0.6:
            return False
        if item.x1 < block.box[0] or item.x0 > block.box[2]:
            return False  # no horizontal overlap: another column or a far-off field
        text = item.text.strip()
        if block.kind is BlockKind.HEADING:
            return (
                style is not None
                and self.ranks[style] == block.level
                and item.x0 <= block.box[0] + 2
            )
        if style is not None or classify.list_item(text):
            return False
        if block.kind is BlockKind.LIST_ITEM:
            return item.x0 > block.box[0] + 1.0
        if block.kind is BlockKind.KEY_VALUE:
            return item.x0 > block.box[0] + 1.0 and classify.key_value(text) is None
        return classify.key_value(text) is None

    def _open(
        self, kind: BlockKind, item: Item, text: str, *, key: str = "", level: int = 0
    ) -> None:
        assert item.segment is not None
        section = (
            self.sections.enter(level, text) if kind is BlockKind.HEADING else self.sections.path()
        )
        self.open = _Open(
            kind, [text], list(item.box), item.segment.size, key, level, section, item
        )

    def _extend(self, item: Item, text: str) -> None:
        block = self.open
        assert block is not None
        block.parts.append(text)
        box = block.box
        box[0], box[1] = min(box[0], item.x0), min(box[1], item.top)
        box[2], box[3] = max(box[2], item.x1), max(box[3], item.bottom)
        block.last = item
        if block.kind is BlockKind.HEADING:
            # A heading over two lines: the section takes its whole text.
            self.sections.stack[-1] = (block.level, " ".join(block.parts))

    def _close(self) -> None:
        block = self.open
        if block is None:
            return
        self.open = None
        text = _join(block.parts)
        box = (block.box[0], block.box[1], block.box[2], block.box[3])
        if block.kind is BlockKind.KEY_VALUE:
            self.blocks.append(
                Block(
                    BlockKind.KEY_VALUE,
                    f"{block.key}: {text}",
                    box,
                    block.section,
                    key=block.key,
                    value=text,
                )
            )
            return
        self.blocks.append(Block(block.kind, text, box, block.section, level=block.level))


def _indented_under(item: Item, following: Item | None) -> bool:
    """The next item starts just below this one and further right."""
    if following is None or following.segment is None:
        return False
    gap = following.top - item.bottom
    height = item.bottom - item.top
    return following.x0 > item.x0 + 4.0 and -0.5 * height <= gap <= height


def _join(parts: list[str]) -> str:
    """Lines of one block as one text; a line ending in a hyphen joins the next without a space."""
    out = parts[0]
    for part in parts[1:]:
        # Kept, not removed: "follow-up" and "C-reactive" break there more often than words do.
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and part[:1].islower():
            out = out + part
        else:
            out = f"{out} {part}"
    return out
