"""The text rules of ../shared/data/clinical/README.md ("How answers are scored"), as functions.

Pure functions, no I/O: bench/clinical_qa.py scores answers and summaries with them, and
tests/unit/test_clinical_scoring.py checks them against the README's own examples.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

# README order matters: "aem" runs before "oea" would ever see "haem".
UK_TO_US = (
    ("aem", "em"),
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("oestr", "estr"),
    ("paed", "ped"),
    ("anaes", "anes"),
    ("oea", "ea"),
    ("tumour", "tumor"),
    ("sulph", "sulf"),
    ("litre", "liter"),
    ("fibre", "fiber"),
    ("centre", "center"),
)
# The README's lists, word for word.
_STOPWORDS = (
    "a an and are as at be been but by for from had has have he her his i if in into is it its "
    "of on or our she so than that the their them then there these they this those to was we "
    "were which while who will with would you your not no"
)
STOPWORDS = frozenset(_STOPWORDS.split())
_STOP_CUES = (
    "stop stops stopped stopping discontinue discontinued discontinuing discontinuation cease "
    "ceased withheld withhold held hold suspend suspended deprescribed"
)
STOP_CUE_WORDS = frozenset(_STOP_CUES.split())
STOP_CUE_PHRASES = (("no", "longer"), ("do", "not", "take"), ("not", "to", "take"))
CUE_WINDOW = 12

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^a-z0-9+]+")
_TOKEN = re.compile(r"[a-z0-9]+")
_MARKER = re.compile(r"\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_LIST_NUMBER = re.compile(r"^\s*\d+\.\s*", re.MULTILINE)


def norm(text: str) -> str:
    """NFKC, casefold, UK spellings folded to US ones, whitespace runs as one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    for uk, us in UK_TO_US:
        text = text.replace(uk, us)
    return _SPACES.sub(" ", text)


def words(text: str) -> list[str]:
    """norm(text) with every run of characters other than a-z, 0-9 and + as a word break."""
    return _NOT_WORD.sub(" ", norm(text)).split()


def _positions(name: Sequence[str], text: Sequence[str | None]) -> list[int]:
    """Start indexes where the word sequence `name` stands whole in `text`."""
    size = len(name)
    if not size:
        return []
    return [i for i in range(len(text) - size + 1) if list(text[i : i + size]) == list(name)]


def occurs(name: str, text: str) -> bool:
    """The words of name appear as whole consecutive words in the words of text."""
    return bool(_positions(words(name), words(text)))


def named_keys(names_by_key: Mapping[str, Iterable[str]], text: str) -> set[str]:
    """Keys of a set named in text: longest names first, each occurrence blanked once found."""
    remaining: list[str | None] = list(words(text))
    pairs = [(words(name), key) for key, names in names_by_key.items() for name in names]
    pairs.sort(key=lambda pair: (-len(pair[0]), -len(" ".join(pair[0]))))
    found: set[str] = set()
    for name, key in pairs:
        starts = _positions(name, remaining)
        if not starts:
            continue
        found.add(key)
        for start in starts:
            for i in range(start, start + len(name)):
                remaining[i] = None  # blanked: no shorter name can match across it
    return found


def value_occurs(value: str, text: str) -> bool:
    """norm(value) in norm(text), not inside a longer number; `<`/`>` may be followed by spaces."""
    wanted = norm(value).strip()
    if not wanted:
        return False
    if wanted[0] in "<>":
        body = re.escape(wanted[0]) + r"\s*" + re.escape(wanted[1:].lstrip())
    else:
        body = re.escape(wanted)
    pattern = r"(?<![0-9.])" + body + r"(?![0-9])(?!\.[0-9])"
    return re.search(pattern, norm(text)) is not None


def tokens(text: str) -> list[str]:
    """The [a-z0-9]+ runs of norm(text) without the README's stopwords."""
    return [t for t in _TOKEN.findall(norm(text)) if t not in STOPWORDS]


def sentences(answer: str) -> list[str]:
    """Split after . ! ? ; before whitespace, at every [n] marker, and at line breaks."""
    parts: list[str] = []
    for line in _MARKER.sub("\n", answer).splitlines():
        parts += [p for p in _SENTENCE_END.split(line) if p.strip()]
    return parts


def _cue_near(sentence: list[str], start: int, end: int) -> bool:
    """A stop cue within CUE_WINDOW words before start or after end (end exclusive)."""
    for window in (sentence[max(0, start - CUE_WINDOW) : start], sentence[end : end + CUE_WINDOW]):
        if STOP_CUE_WORDS.intersection(window):
            return True
        if any(_positions(phrase, window) for phrase in STOP_CUE_PHRASES):
            return True
    return False


def leaks(names: Iterable[str], text: str) -> bool:
    """A stopped medicine leaks: a name of it in a sentence with no stop cue near that name."""
    name_words = [w for w in (words(n) for n in names) if w]
    for sentence in sentences(text):
        sentence_words = words(sentence)
        for name in name_words:
            for start in _positions(name, sentence_words):
                if not _cue_near(sentence_words, start, start + len(name)):
                    return True
    return False


def section_tokens(text: str, limit: int = 40) -> list[str]:
    """The first `limit` distinct tokens of text, list numbers at line starts removed."""
    distinct: list[str] = []
    for token in tokens(_LIST_NUMBER.sub("", text)):
        if token not in distinct:
            distinct.append(token)
            if len(distinct) == limit:
                break
    return distinct


def quote_in_section(quote: str, section: set[str], share: float = 0.6) -> bool:
    """At least `share` of the quote's tokens are in the section's token set."""
    quoted = tokens(quote)
    return bool(quoted) and sum(t in section for t in quoted) >= share * len(quoted)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None where there is nothing to divide."""
    return numerator / denominator if denominator else None


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
