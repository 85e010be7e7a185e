"""Facts into summary sections: merged, ordered by priority, budgeted, and never leaking a stop.

Short documents keep every fact; long ones keep a budget per section, abnormal values and
medication changes first. A statement outside the medications section that names a stopped
medicine without a stop word near the name is left out, so the summary never shows it as taken.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docquery.adapters.local.summary_structure import Fact, structured_facts, title_fact
from docquery.domain.processing import SUMMARY_SECTIONS, Statement, SummarySection
from docquery.domain.reading import PageReading

# Up to this many pages a document is short: every fact it states is kept.
SHORT_PAGES = 6
# A long document's budget per section, and the overview's size at any length.
LONG_SECTION_BUDGET = 15
OVERVIEW_SENTENCES = 4
# Words either side of a medicine's name within which a stop word must stand.
STOP_WINDOW = 12
_STOP_WORDS = re.compile(
    r"\b(?:stop(?:s|ped|ping)?|discontinu\w*|cease[ds]?|withh(?:e|o)ld|held|hold|"
    r"suspend(?:ed)?|deprescribed|no longer|do not take|not to take)\b",
    re.IGNORECASE,
)
# First words of medicine names that alone name an analyte or a class, not the medicine.
_GENERIC = frozenset(
    [
        "potassium",
        "sodium",
        "calcium",
        "magnesium",
        "iron",
        "ferrous",
        "folic",
        "vitamin",
        "insulin",
        "zinc",
        "phosphate",
        "glucose",
        "human",
    ]
)
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n")
_WORD = re.compile(r"[a-z0-9+]+")


def assemble(pages: Sequence[PageReading]) -> tuple[SummarySection, ...]:
    """The summary's sections in SUMMARY_SECTIONS order; empty ones omitted."""
    facts = structured_facts(pages)
    title = title_fact(pages)
    stopped = _stopped_names(facts)
    budget = None if len(pages) <= SHORT_PAGES else LONG_SECTION_BUDGET
    sections = []
    for name in SUMMARY_SECTIONS:
        chosen = [f for f in facts if f.section == name]
        if name != "medications":
            chosen = [f for f in chosen if not _leaks(f.text, stopped)]
        if name == "overview":
            chosen = ([title] if title else []) + _first(chosen, OVERVIEW_SENTENCES)
        statements = _statements(chosen, budget)
        if statements:
            sections.append(SummarySection(name, statements))
    return tuple(sections)


def _first(facts: list[Fact], count: int) -> list[Fact]:
    ranked = sorted(range(len(facts)), key=lambda i: (facts[i].rank, i))[:count]
    return [facts[i] for i in sorted(ranked)]


def _statements(facts: list[Fact], budget: int | None) -> tuple[Statement, ...]:
    """Distinct statements by priority then document order, pages merged; within budget."""
    order = sorted(range(len(facts)), key=lambda i: (facts[i].rank, i))
    pages: dict[str, list[int]] = {}
    for i in order:
        cited = pages.setdefault(facts[i].text, [])
        if facts[i].page not in cited:
            cited.append(facts[i].page)
    kept = list(pages.items())[:budget]
    return tuple(Statement(text, tuple(sorted(cited))) for text, cited in kept)


def _stopped_names(facts: list[Fact]) -> list[tuple[str, ...]]:
    """Each stopped medicine as a sentence would name it: its first word, or its first two
    when the first alone names something else too ("potassium chloride", "vitamin D")."""
    names = []
    for fact in facts:
        words = _WORD.findall(fact.stopped.casefold())
        if not words or len(words[0]) < 3:
            continue
        names.append(tuple(words[:2]) if words[0] in _GENERIC and len(words) > 1 else (words[0],))
    return names


def _leaks(text: str, stopped: list[tuple[str, ...]]) -> bool:
    """Whether a stopped medicine is named in a sentence with no stop word near it."""
    for sentence in _SENTENCES.split(text):
        words = _WORD.findall(sentence.casefold())
        for name in stopped:
            size = len(name)
            for at in (i for i in range(len(words)) if tuple(words[i : i + size]) == name):
                near = " ".join(words[max(0, at - STOP_WINDOW) : at + size + STOP_WINDOW])
                if not _STOP_WORDS.search(near):
                    return True
    return False
