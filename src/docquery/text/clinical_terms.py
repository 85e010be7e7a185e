"""Clinical terms as data: lab analytes and section topics, each with its synonyms.

The list is clinical_terms.tsv. Names match as whole consecutive words after case and UK/US
spelling are folded, so "Hb", "haemoglobin" and "Hemoglobin" all name one analyte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from docquery.text import spelling

# Words of a text: runs of letters, digits and "+" (so "K+" and "Na+" stay whole).
_NOT_WORD = re.compile(r"[^\w+]+|_")


@dataclass(frozen=True, slots=True)
class Term:
    """One analyte or section topic: its canonical name and every name that counts for it."""

    kind: str
    canonical: str
    names: tuple[str, ...]


def words(text: str) -> tuple[str, ...]:
    """The text's words: casefolded, UK spellings folded to US, punctuation dropped."""
    folded = spelling.normalise(text.casefold())
    return tuple(w for w in _NOT_WORD.sub(" ", folded).replace("+", " + ").split() if w)


@cache
def terms() -> tuple[Term, ...]:
    """Every term, in file order."""
    text = files("docquery.text").joinpath("clinical_terms.tsv").read_text(encoding="utf-8")
    found = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, canonical, synonyms = line.split("\t")
        names = (canonical, *(s for s in synonyms.split("|") if s))
        found.append(Term(kind, canonical, names))
    return tuple(found)


def analytes() -> tuple[Term, ...]:
    """The lab analytes."""
    return tuple(t for t in terms() if t.kind == "analyte")


def section_topics() -> tuple[Term, ...]:
    """The section topics."""
    return tuple(t for t in terms() if t.kind == "section")


@cache
def _name_words(kind: str) -> tuple[tuple[tuple[str, ...], Term], ...]:
    """(words of a name, its term), longest names first."""
    pairs = [(words(name), t) for t in terms() if t.kind == kind for name in t.names]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def find(text: str, kind: str = "analyte", *, nested: bool = False) -> list[Term]:
    """The terms of `kind` named in the text, in order of first mention; a longer name wins
    over a shorter one inside it ("haemoglobin A1c" is HbA1c, not haemoglobin). A name that
    two terms share ("impression") names both. With `nested`, names inside longer ones count
    too ("postoperative diagnosis" is also a diagnosis)."""
    found: list[tuple[int, Term]] = []
    spans: set[tuple[int, int]] = set()
    taken: set[int] = set()
    text_words = words(text)
    for name, term in _name_words(kind):
        for start in _occurrences(text_words, name):
            span = set(range(start, start + len(name)))
            if span & taken and (start, len(name)) not in spans and not nested:
                continue
            taken |= span
            spans.add((start, len(name)))
            found.append((start, term))
    ordered = [term for _, term in sorted(found, key=lambda pair: pair[0])]
    return list(dict.fromkeys(ordered))


def names(term: Term, text: str) -> bool:
    """Whether the text names the term (by any of its names, as whole words)."""
    return term in find(text, term.kind)


def _occurrences(text_words: tuple[str, ...], name: tuple[str, ...]) -> list[int]:
    size = len(name)
    if not size:
        return []
    return [i for i in range(len(text_words) - size + 1) if text_words[i : i + size] == name]


def expand(text: str) -> str:
    """The text with every name of each term it names appended: what a search for it should
    also find ("na" finds "Serum sodium", "anticoagulant" finds "Apixaban")."""
    named = [t for kind in ("analyte", "section", "drug_class") for t in find(text, kind)]
    extra = dict.fromkeys(name for t in named for name in t.names)
    return " ".join([text, *extra])
