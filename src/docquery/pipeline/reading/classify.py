"""What one line of text is, by its words, font and position: heading, list item, label: value."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from docquery.pipeline.reading.layout import Item

_LIST = re.compile(
    r"^(?:[\u2022\u25e6\u25aa\u2023\u2219\u00b7\u2013\u2014*-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+\S"
)
# A label: at most six words starting with a letter, no sentence punctuation.
_KEY_VALUE = re.compile(r"^(?P<key>[A-Za-z][^:.;!?]{0,48}?[^\s:]):\s+(?P<value>\S.*)$")
_CLOCK = re.compile(r"\d$")
_MINUTES = re.compile(r"^\d\d\b")
_TRAILING = re.compile(r"[\s:]+$")
BIG = 1.15


@dataclass(frozen=True, slots=True)
class Style:
    """A heading's look; headings of a document are ranked by it into levels."""

    size: float
    bold: bool
    caps: bool


def body_size(items: Iterable[Item]) -> float:
    """The font size most of the document's characters are set in."""
    sizes: Counter[float] = Counter()
    for item in items:
        if item.segment is not None:
            for word in item.segment.words:
                sizes[round(word.size * 2) / 2] += len(word.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def heading_style(item: Item, body: float) -> Style | None:
    """The style of a heading, or None when the item does not look like one."""
    segment = item.segment
    if segment is None:
        return None
    text = segment.text.strip()
    if not any(c.isalpha() for c in text) or len(text) > 90 or len(text.split()) > 12:
        return None
    if text[-1] in ".,;" or _KEY_VALUE.match(text) or _LIST.match(text):
        return None
    big = segment.size >= BIG * body
    caps = is_caps(text)
    if not (big or segment.bold or caps):
        return None
    return Style(size=round(segment.size * 2) / 2, bold=segment.bold, caps=caps)


def heading_text(text: str) -> str:
    return _TRAILING.sub("", text.strip())


def title_like(text: str) -> bool:
    """A few capitalised words with no digits and no closing punctuation ("Cardiac Markers")."""
    words = text.split()
    if not 1 <= len(words) <= 6 or any(c.isdigit() for c in text) or text[-1] in ".,;:":
        return False
    return all(w[0].isupper() or not w[0].isalpha() or len(w) <= 3 for w in words)


def list_item(text: str) -> bool:
    return bool(_LIST.match(text))


def key_value(text: str) -> tuple[str, str] | None:
    """(label, value) of a `Label: value` line."""
    match = _KEY_VALUE.match(text.strip())
    if match is None or len(match.group("key").split()) > 6:
        return None
    if _CLOCK.search(match.group("key")) and _MINUTES.match(match.group("value")):
        return None  # "at 10:02 ...": a time, not a label ("Free T4: 0.96" is a label)
    return match.group("key").strip(), match.group("value").strip()


def section_label(key: str, value: str) -> bool:
    """An inline section header ("FINDINGS: ...") rather than a field ("MRN: 123", "ESR: 9")."""
    letters = sum(c.isalpha() for c in key)
    return is_caps(key) and letters >= 4 and not value[:1].isdigit() and value[:1] not in "<>+-"


def levels(styles: Iterable[Style]) -> dict[Style, int]:
    """Heading levels from 1: larger, then bold, then capitals rank higher."""
    ranked = sorted(set(styles), key=lambda s: (-s.size, not s.bold, not s.caps))
    return {style: index + 1 for index, style in enumerate(ranked)}
