"""UK and US spellings of medical words as one word: UK forms rewritten to US ones.

The list is data (spelling_variants.tsv). The index and the query parser both rewrite text
with `normalise` before they cut it into words, so haemoglobin finds hemoglobin and back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

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


def _pattern(uk: str) -> str:
    # The ligatures fold to the same letters (æ -> ae), so they are the same spelling.
    return re.escape(uk).replace("ae", "(?:ae|æ)").replace("oe", "(?:oe|œ)")


@cache
def _rewriter() -> tuple[re.Pattern[str], dict[str, str]]:
    # Longest first, so that haemat* is tried before haem*.
    ordered = sorted(variants(), key=lambda v: len(v.uk), reverse=True)
    alternatives = [
        f"(?P<v{n}>{_pattern(v.uk)}{'' if v.prefix else _WORD_END})" for n, v in enumerate(ordered)
    ]
    pattern = re.compile(_WORD_START + "(?:" + "|".join(alternatives) + ")", re.IGNORECASE)
    return pattern, {f"v{n}": v.us for n, v in enumerate(ordered)}


def normalise(text: str) -> str:
    """`text` with every UK form rewritten to its US form (case is not kept: search folds it)."""
    pattern, targets = _rewriter()
    return pattern.sub(lambda match: targets[str(match.lastgroup)], text)
