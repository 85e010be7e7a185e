"""A document's reading as Markdown, the form language models are sent: headings as headings,
tables as tables, list items as items, furniture left out."""

from __future__ import annotations

from collections.abc import Iterable

from docquery.domain.reading import Block, BlockKind, PageReading, Table

_MAX_HEADING = 6


def render_markdown(pages: Iterable[PageReading], *, page_markers: bool = False) -> str:
    """Markdown of the content blocks of `pages`; page_markers opens each page with a comment."""
    parts: list[str] = []
    for page in pages:
        if page_markers:
            parts.append(f"<!-- page {page.number} -->")
        parts.extend(render_block(block) for block in page.blocks if block.is_content)
    return "\n\n".join(p for p in parts if p) + "\n"


def page_markdown(page: PageReading) -> str:
    """One page's Markdown for a model: the section it opens in (when it does not open with a
    heading), then its content blocks; "" for a page without content."""
    content = [block for block in page.blocks if block.is_content]
    if not content:
        return ""
    parts = [render_block(block) for block in content]
    first = content[0]
    if first.kind is not BlockKind.HEADING and first.section:
        parts.insert(0, "*Section: " + _inline(" / ".join(first.section)) + "*")
    return "\n\n".join(p for p in parts if p)


def render_block(block: Block) -> str:
    """One block as Markdown ("" for furniture)."""
    if block.kind is BlockKind.HEADING:
        return "#" * min(max(block.level, 1), _MAX_HEADING) + " " + _inline(block.text)
    if block.kind is BlockKind.LIST_ITEM:
        return "- " + _inline(block.text)
    if block.kind is BlockKind.KEY_VALUE:
        return f"**{_inline(block.key)}:** {_inline(block.value)}"
    if block.kind is BlockKind.TABLE and block.table is not None:
        return render_table(block.table)
    if block.kind is BlockKind.FURNITURE:
        return ""
    return _inline(block.text)


def render_table(table: Table) -> str:
    """A Markdown table; a table without a header row gets an empty one (Markdown needs one)."""
    width = max((len(row.cells) for row in table.rows), default=0)
    if width == 0:
        return ""
    header = table.header
    names = [c.text for c in header.cells] if header is not None else [""] * width
    lines = [_row(names, width), "|" + "---|" * width]
    lines += [_row([c.text for c in row.cells], width) for row in table.body]
    return "\n".join(lines)


def _row(cells: list[str], width: int) -> str:
    padded = cells + [""] * (width - len(cells))
    return "| " + " | ".join(_cell(c) for c in padded) + " |"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _inline(text: str) -> str:
    # One line per block; a line starting with "#" or a list marker would change its meaning.
    line = " ".join(text.split())
    if line[:1] in "#>" or line[:2] in ("- ", "* ", "+ "):
        line = "\\" + line
    return line
