"""Sentences out of extracted page text: normalised, split, deduplicated, with their pages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from docquery.domain.processing import Page

# Bounds the work: a 500-page document is summarised from its first 5,000 distinct sentences.
MAX_SENTENCES = 5000
_MIN_CHARS, _MAX_CHARS = 12, 600


@dataclass(slots=True)
class Sentence:
    """A distinct sentence of the document, the pages it occurs on, and its section heading."""

    text: str
    heading: str
    pages: list[int] = field(default_factory=list)


_LINE_BREAK_HYPHEN = re.compile(r"(?<=[a-z])[-\u00ad]\n(?=[a-z])")
_BULLET = re.compile(r"^(?:[-*\u2022\u25aa\u25e6\u2023\u2013]|\(?\d{1,2}[.)]|[a-z][.)])\s+")
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_LAST_WORD = re.compile(r"(\S+)\.$")
_ABBREVIATIONS = frozenset(
    str.split(
        "dr mr mrs ms prof st vs etc e.g i.e approx no fig al pt hx dx rx sx tx "
        "b.i.d t.i.d q.i.d p.o q.d p.r.n inc jr sr min max dept"
    )
)
# Page numbers in headers and footers: "3", "Page 3", "Page 3 of 10", "3/10".
_PAGE_FURNITURE = re.compile(r"(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?", re.IGNORECASE)
_CLOSERS = (".", "!", "?", ":", ";", '"', "'", ")", "\u201d", "\u2019")
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
# Characters worth a look: anything but printable ASCII and newlines (keeps the common case fast).
_UNUSUAL = re.compile(r"[^\x20-\x7e\n]")


def split_sentences(pages: Sequence[Page]) -> list[Sentence]:
    """Distinct usable sentences in document order (at most MAX_SENTENCES)."""
    found: dict[str, Sentence] = {}
    heading = ""  # a heading carries over to the next page
    for page in pages:
        blocks, heading = _blocks(normalise(page.text), heading)
        for block_heading, texts in blocks:
            for text in filter(_usable, texts):
                sentence = found.setdefault(text.casefold(), Sentence(text, block_heading))
                if page.number not in sentence.pages:
                    sentence.pages.append(page.number)
                if len(found) >= MAX_SENTENCES:
                    return list(found.values())
    return list(found.values())


def normalise(text: str) -> str:
    """Compatibility forms, no control or invisible characters, words joined across lines."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _UNUSUAL.sub(_clean_char, text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return _LINE_BREAK_HYPHEN.sub("", text).replace("\u00ad", "")


def _clean_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\v\f":
        return " "
    if char == "\u00ad" or unicodedata.category(char) not in _DROP_CATEGORIES:
        return char
    return ""


def _blocks(text: str, heading: str) -> tuple[list[tuple[str, list[str]]], str]:
    """Sentences of each run of lines, with the heading above it; and the page's last heading."""
    blocks: list[tuple[str, list[str]]] = []
    lines: list[str] = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if _PAGE_FURNITURE.fullmatch(line):
            continue
        heading_line = _is_heading(line)
        if lines and (not line or heading_line or _BULLET.match(line) or _new_line(lines, line)):
            blocks.append((heading, _split(" ".join(lines))))
            lines = []
        if heading_line:
            heading = line
        elif line:
            lines.append(_BULLET.sub("", line, count=1))
    if lines:
        blocks.append((heading, _split(" ".join(lines))))
    if blocks and len(tail := blocks[-1][1]) > 1 and not tail[-1].endswith(_CLOSERS):
        tail.pop()  # prose cut off at the page's end: the sentence goes on over the page
    return blocks, heading


def _is_heading(line: str) -> bool:
    if not line or len(line) > 60 or line.endswith("."):
        return False
    return line.endswith(":") or (line.isupper() and sum(c.isalpha() for c in line) >= 3)


def _new_line(lines: list[str], line: str) -> bool:
    """A short previous line without closing punctuation before a capital: a title or label."""
    previous = lines[-1]
    return len(previous) < 40 and previous[-1] not in ".,;:!?-" and line[0].isupper()


def _split(block: str) -> list[str]:
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(block):
        candidate = block[start : match.end()]
        if match.group().startswith(".") and _ends_with_abbreviation(candidate):
            continue
        sentences.append(candidate.strip())
        start = match.end()
    sentences.append(block[start:].strip())
    return sentences


def _ends_with_abbreviation(text: str) -> bool:
    match = _LAST_WORD.search(text.rstrip("\"'\u201d\u2019)]"))
    if match is None:
        return False
    word = match.group(1).lstrip("([").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _usable(text: str) -> bool:
    """Long enough to say something, short enough to be a sentence, mostly letters."""
    words = len(text.split())
    if not _MIN_CHARS <= len(text) <= _MAX_CHARS or words < 2 or text[0].islower():
        return False  # a lowercase start is the rest of a sentence from the previous page
    if words == 2 and not text.endswith((".", "!", "?")):
        return False  # a two-word label or title, not a statement
    visible = [char for char in text if not char.isspace()]
    return sum(char.isalpha() for char in visible) >= 0.5 * len(visible)
