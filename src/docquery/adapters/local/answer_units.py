"""Answer units of a retrieved page: table rows with their headers, key-value lines, list
items and sentences, each with its section path and a quote that its page text bears out.

A unit whose words cannot be found in the printed page is never made: the answer could not
cite it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from docquery.domain.reading import Block, BlockKind, PageReading, Row
from docquery.domain.search import Passage
from docquery.text.answers import normalise

MIN_QUOTE_CHARS = 8
# A paragraph that starts with its own heading: "ANESTHESIA: General endotracheal."
_INLINE_HEADING = re.compile(r"^([A-Z][A-Z0-9 /&,()'-]{2,60}):\s*(.*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
_REFERENCE = re.compile(r"\b(?:ref|range|normal|reference|interval)\b", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*\u2022\u25aa\u2013]|\(?\d{1,2}[.)])\s+")


@dataclass(frozen=True, slots=True)
class Unit:
    """One answerable unit: what the answer shows, what it quotes, and where it stands."""

    source: int
    document_id: str
    kind: str  # "row", "key_value", "list_item", "sentence", "line"
    section: tuple[str, ...]
    display: str
    quote: str
    cells: tuple[tuple[str, str], ...] = ()  # (header, text) of a table row
    table_headers: tuple[str, ...] = ()


def units(passage: Passage) -> list[Unit]:
    """The page's units in reading order; the printed lines when no reading is known."""
    page = normalise(passage.text)
    if passage.reading is None:
        return list(_lines(passage, page))
    return list(_from_reading(passage, passage.reading, page))


def lines(passage: Passage) -> list[Unit]:
    """The printed lines of the page, each a unit (for text a reading did not structure)."""
    return list(_lines(passage, normalise(passage.text)))


def _lines(passage: Passage, page: str) -> Iterator[Unit]:
    for raw in passage.text.splitlines():
        text = normalise(_BULLET.sub("", raw.strip()))
        if len(text) >= MIN_QUOTE_CHARS and text in page:
            yield Unit(passage.number, passage.document_id, "line", (), text, text)


def _from_reading(passage: Passage, reading: PageReading, page: str) -> Iterator[Unit]:
    # A letterhead the reading also kept as content ("Castlegate Royal Infirmary") is furniture.
    furniture = {normalise(b.text) for b in reading.blocks if not b.is_content}
    for block in reading.blocks:
        if not block.is_content or block.kind is BlockKind.HEADING:
            continue
        if normalise(block.text) in furniture:
            continue
        if block.kind is BlockKind.TABLE and block.table is not None:
            headers = tuple(c.text for c in block.table.header.cells) if block.table.header else ()
            for row in block.table.body:
                unit = _row(passage, block, row, headers, page)
                if unit is not None:
                    yield unit
        else:
            yield from _texts(passage, block, page)


def _row(
    passage: Passage, block: Block, row: Row, headers: tuple[str, ...], page: str
) -> Unit | None:
    cells = tuple((c.header, normalise(c.text)) for c in row.cells if c.text.strip())
    if not cells:
        return None
    texts = [text for _, text in cells]
    # As printed: cells " | " apart where the reading printed the row so, else space apart;
    # the longest run of leading cells the page bears out (OCR may print a row's cells apart).
    runs = [texts[:n] for n in range(len(texts), 0, -1)]
    quote = _quote(page, *(sep.join(run) for run in runs for sep in (" | ", " ")))
    if quote is None:
        return None
    shown = [f"(ref {text})" if _REFERENCE.search(header) else text for header, text in cells]
    return Unit(
        passage.number,
        passage.document_id,
        "row",
        block.section,
        " ".join(shown),
        quote,
        cells,
        headers,
    )


def _texts(passage: Passage, block: Block, page: str) -> Iterator[Unit]:
    text = normalise(_BULLET.sub("", block.text.strip()))
    section = block.section
    kind = block.kind.value
    inline = _INLINE_HEADING.match(text)
    if block.kind is BlockKind.KEY_VALUE and block.key:
        section = (*section, normalise(block.key))
    elif inline and block.kind is BlockKind.PARAGRAPH:
        section, text = (*section, inline[1].strip()), inline[2].strip()
    pieces = [text] if kind != "paragraph" else _SENTENCE_END.split(text)
    heading = section[-1] if section else ""
    for piece in pieces:
        # A short section body ("None.") is quoted with its heading, as the page prints it.
        quote = _quote(page, piece, f"{heading}: {piece}", f"{heading} {piece}")
        if quote is not None:
            kind_name = "sentence" if kind == "paragraph" else kind
            yield Unit(passage.number, passage.document_id, kind_name, section, piece, quote)


def _quote(page: str, *candidates: str) -> str | None:
    """The first candidate long enough to prove something and printed on the page."""
    for candidate in candidates:
        text = normalise(candidate)
        if len(text) >= MIN_QUOTE_CHARS and text in page:
            return text
    return None
