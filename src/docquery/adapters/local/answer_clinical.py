"""Clinical answers from structure: a lab value's row, the medication list by status, the
flagged results, a section's content; grouped by document, one patient at a time.

`structured_answer` returns None when the question is none of these kinds, so the caller can
fall back to sentences; an empty list of units for a recognised kind means "not found".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from docquery.adapters.local.answer_units import Unit, lines, units
from docquery.domain.search import Draft, DraftCitation, Passage
from docquery.text.clinical_terms import Term, find, words
from docquery.text.medications import Status, is_current, is_status_header, medication_status

MAX_UNITS_PER_DOCUMENT = 30
MAX_SECTION_UNITS = 12
MAX_DOCUMENTS = 3
_MEDS = re.compile(
    r"\b(?:medications?|medicines?|drugs?|meds|tablets?|prescri\w*|discharged on|"
    r"taking|treatment)\b",
    re.IGNORECASE,
)
_STOPPED = re.compile(
    r"\b(?:stop\w*|discontinu\w*|held|withheld|withdrawn|ceased|deprescribed|no longer|"
    r"not to take|do not take|should not take)\b",
    re.I,
)
_STARTED = re.compile(r"\b(?:start\w*|new|commenc\w*|initiat\w*|added|begun|began)\b", re.I)
_ABNORMAL = re.compile(r"\b(?:abnormal|flagged|out of range|outside|high or low)\b", re.I)
_FLAG = frozenset({"h", "l", "hh", "ll", "high", "low", "abnormal", "critical"})
_LINE_FLAG = re.compile(r"(?:\)|\d|\s)\s*(?:H|L|HH|LL|High|Low|HIGH|LOW)\*?$")
_VALUE = re.compile(r"(?<![A-Za-z0-9.])[<>]?\s?\d+(?:\.\d+)?")
_MED_TABLE = re.compile(r"\b(?:medicine|medication|drug|dose|route|frequency)\b", re.I)

Picker = Callable[[list[Unit]], list[Unit]]


def structured_answer(question: str, passages: Sequence[Passage]) -> Draft | None:
    """The answer from the pages' units for a clinical kind of question, or None."""
    all_units = [u for p in sorted(passages, key=lambda p: p.number) for u in units(p)]
    picker = _picker(question)
    if picker is None:
        return None
    picked = picker(all_units)
    if not picked and passages and all(p.reading is not None for p in passages):
        # The reading may have missed a layout: try the printed lines before giving up.
        picked = picker([u for p in passages for u in lines(p)])
    return render(picked, passages)


def _picker(question: str) -> Picker | None:
    """What the question asks for, as a function choosing units."""
    if _ABNORMAL.search(question):
        return _abnormal
    classes = find(question, "drug_class")
    if _MEDS.search(question) or classes:
        stopped = bool(_STOPPED.search(question))
        started = bool(_STARTED.search(question)) and not stopped
        asked = set(words(question))
        return lambda found: _medications(found, stopped, started, classes, asked)
    analytes = find(question, "analyte")
    if analytes:
        return lambda found: _lab_values(found, analytes[0])
    topics = find(question, "section")
    if topics:
        return lambda found: _section(found, question, topics)
    return None


def _lab_values(found: list[Unit], analyte: Term) -> list[Unit]:
    """The best unit giving the analyte with a value, per document."""
    ranked: dict[str, tuple[int, Unit]] = {}
    for unit in found:
        rank = _lab_rank(unit, analyte)
        if rank is None:
            continue
        if unit.document_id not in ranked or rank < ranked[unit.document_id][0]:
            ranked[unit.document_id] = (rank, unit)
    return [unit for _, unit in ranked.values()]


def _lab_rank(unit: Unit, analyte: Term) -> int | None:
    """How well a unit states the analyte's value (lower is better); None if it does not."""
    if _is_medication(unit):
        return None  # "Calcium carbonate 1.25 g" in a medication list is no calcium result
    if unit.cells:
        named = find(unit.cells[0][1], "analyte")[:1] == [analyte]
        return 0 if named and any(_VALUE.search(text) for _, text in unit.cells[1:]) else None
    first = find(unit.display, "analyte")[:1] == [analyte]
    if not _VALUE.search(unit.display) or analyte not in find(unit.display, "analyte"):
        return None
    if unit.kind in ("key_value", "line") and first:
        return 1
    return 2


def _abnormal(found: list[Unit]) -> list[Unit]:
    """Rows and lines flagged high or low."""
    return [u for u in found if u.kind in ("row", "key_value", "line") and _flagged(u)]


def _flagged(unit: Unit) -> bool:
    if unit.cells:
        # A flag is a flag's word in any cell but the name: a "Flag" column may hold a unit
        # where the row's cells were read out of line.
        return any(text.casefold().rstrip("*") in _FLAG for _, text in unit.cells[1:])
    return bool(_LINE_FLAG.search(unit.display)) and bool(find(unit.display, "analyte"))


def _medications(
    found: list[Unit], stopped: bool, started: bool, classes: list[Term], asked: set[str]
) -> list[Unit]:
    """Medication units with the status asked for; stopped ones only when asked for."""
    meds = _list_asked([u for u in found if _is_medication(u)], asked)
    if classes:
        meds = [u for u in meds if set(find(u.display, "drug_class")) & set(classes)]
    return [u for u in meds if _wanted(_status(u), stopped, started)]


def _list_asked(meds: list[Unit], asked: set[str]) -> list[Unit]:
    """Of several medication lists, the ones whose heading shares words with the question
    ("discharged on" picks "Discharge medications" over "Medications on admission")."""
    stems = {w[:6] for w in asked if len(w) > 3}

    def shared(unit: Unit) -> int:
        return len({w[:6] for part in unit.section for w in words(part)} & stems)

    best = max((shared(u) for u in meds), default=0)
    return [u for u in meds if shared(u) == best] if best else meds


def _wanted(status: Status | None, stopped: bool, started: bool) -> bool:
    if stopped:
        return status in (Status.STOPPED, Status.HELD)
    if started:
        return status is Status.NEW
    return is_current(status)


def _is_medication(unit: Unit) -> bool:
    if unit.cells:
        return sum(bool(_MED_TABLE.search(h)) for h in unit.table_headers) >= 2 or _in_meds(unit)
    return unit.kind in ("list_item", "key_value", "sentence", "line") and _in_meds(unit)


def _in_meds(unit: Unit) -> bool:
    """Whether the innermost section with a known topic is a medication list ("Follow-up:"
    right under the medications is not one)."""
    for part in reversed(unit.section):
        names = {t.canonical for t in find(part, "section")}
        if names:
            return "medications" in names and "allergies" not in names
    return False


def _status(unit: Unit) -> Status | None:
    for header, text in unit.cells:
        if is_status_header(header):
            return medication_status(text)
    return medication_status(unit.display)


def _section(found: list[Unit], question: str, topics: list[Term]) -> list[Unit]:
    """The content of the section whose heading best matches the question, per document."""
    asked = set(words(question))
    best: dict[str, tuple[int, str]] = {}
    for unit in found:
        if not unit.section:
            continue
        heading = unit.section[-1]
        score = _heading_score(heading, asked, topics)
        if score and (unit.document_id not in best or score > best[unit.document_id][0]):
            best[unit.document_id] = (score, heading)
    picked = []
    for document, (_, heading) in best.items():
        mine = [u for u in found if u.document_id == document]
        picked.extend(_inside(mine, heading)[:MAX_SECTION_UNITS])
    return picked


def _inside(found: list[Unit], heading: str) -> list[Unit]:
    """The units under the heading, and the list items right after a line that is its own
    heading ("Discharge diagnoses: 1. ..." then "2. ..."): they continue its list."""
    inside: list[Unit] = []
    opened_inline = False
    for unit in found:
        if unit.section[-1:] == (heading,):
            inside.append(unit)
            opened_inline = unit.kind in ("key_value", "sentence", "line")
        elif opened_inline and unit.kind == "list_item":
            inside.append(unit)
        else:
            opened_inline = False
    return inside


def _heading_score(heading: str, asked: set[str], topics: list[Term]) -> int:
    """How well a heading matches: the question's first-named topic counts most ("What was
    found during the operation?" is about findings), then each question word in it; never 0
    when the topic matches."""
    found = set(find(heading, "section", nested=True))
    ranks = [index for index, topic in enumerate(topics) if topic in found]
    if not ranks:
        return 0
    # On a tie the shorter heading: "Procedure" over the document's title "Procedure Note".
    heading_words = set(words(heading))
    return 100 * (len(topics) - min(ranks)) + 10 * len(heading_words & asked) - len(heading_words)


def render(picked: list[Unit], passages: Sequence[Passage]) -> Draft:
    """The units as an answer, grouped by document and attributed when there are several."""
    documents = list(dict.fromkeys(u.document_id for u in picked))[:MAX_DOCUMENTS]
    if not documents:
        return Draft("", ())
    first = {p.document_id: p for p in sorted(passages, key=lambda p: p.number)}
    parts: list[str] = []
    citations: list[DraftCitation] = []
    for document in documents:
        mine = [u for u in picked if u.document_id == document][:MAX_UNITS_PER_DOCUMENT]
        body = "\n".join(f"- {u.display} [{u.source}]" for u in _distinct(mine))
        citations.extend(DraftCitation(u.source, u.quote) for u in mine)
        if len(documents) > 1:
            body = f"From {_label(first[document])}:\n{body}"
        parts.append(body)
    return Draft("\n\n".join(parts), tuple(citations))


def _label(passage: Passage) -> str:
    who = f" (patient {passage.patient})" if passage.patient else ""
    return f'"{passage.title}"{who}'


def _distinct(found: list[Unit]) -> list[Unit]:
    """One of each shown text (a table repeated on the next page shows once)."""
    seen: dict[str, Unit] = {}
    for unit in found:
        seen.setdefault(unit.display.casefold(), unit)
    return list(seen.values())
