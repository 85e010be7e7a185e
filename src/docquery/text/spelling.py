"""UK and US spellings of medical words as one word: UK forms rewritten to US ones.

The list is data (spelling_variants.tsv). The index and the query parser both rewrite text
with `normalise` before they cut it into words, so haemoglobin finds hemoglobin and back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

# Where a word starts: the index's tokenizer cuts words at anything not a letter or a digit.
_WORD_START = r"(?<![^\W_])"
_WORD_END = r"(?![^\W_])"


@dataclass(frozen=True, slots=True)
class Variant:
    """One UK form and its US form; `prefix` forms match the start of a word."""

    uk: str
    us: str
    prefix: bool
    example_uk: str
    example_us: str


@cache
def variants() -> tuple[Variant, ...]:
    """The list, in file order."""
    text = files("docquery.text").joinpath("spelling_variants.tsv").read_text(encoding="utf-8")
    found = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        uk, us, example_uk, example_us = line.split("\t")
        prefix = uk.endswith("*")
        found.append(Variant(uk.rstrip("*"), us.rstrip("*"), prefix, example_uk, example_us))
    return tuple(found)


_LIGATURES = str.maketrans({"æ": "ae", "œ": "oe"})


def _spellings(uk: str) -> set[str]:
    """The UK form as written with and without the ligatures (æ folds to ae: the same word)."""
    forms = {uk}
    for pair, ligature in (("ae", "æ"), ("oe", "œ")):
        forms |= {form.replace(pair, ligature) for form in forms}
    return forms


def _trie(forms: dict[str, bool]) -> str:
    """One regex for every form (True: a word start, False: a whole word), as a trie, so that
    each position of a text costs one step rather than one per form; longer forms first."""
    root: dict[str, Any] = {}
    for form, prefix in forms.items():
        node = root
        for char in form:
            node = node.setdefault(char, {})
        node[""] = prefix
    return _node(root)


def _node(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _node(child) for char, child in sorted(node.items()) if char]
    if "" in node:
        branches.append("" if node[""] else _WORD_END)
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


@cache
def _rewriter() -> tuple[re.Pattern[str], dict[str, str]]:
    forms = {spelling: v.prefix for v in variants() for spelling in _spellings(v.uk)}
    pattern = re.compile(_WORD_START + _trie(forms), re.IGNORECASE)
    return pattern, {v.uk: v.us for v in variants()}


def normalise(text: str) -> str:
    """`text` with every UK form rewritten to its US form (case is not kept: search folds it)."""
    pattern, targets = _rewriter()
    return pattern.sub(lambda match: targets[match[0].lower().translate(_LIGATURES)], text)


@cache
def uk_starts() -> frozenset[str]:
    """The first three letters of every UK form: a word that starts otherwise is never one."""
    return frozenset(v.uk[:3] for v in variants())
