"""A clinical summary read off a document's structure: its sections, lists, tables and key-values.

Diagnoses come from diagnosis sections, medications from medication tables and lists (each with
its status), abnormal results from lab tables, key-value lines and result sentences, follow-up
from plan and appointment sections, the overview from the opening prose. Furniture and table
rows never make the overview; every statement cites the page it is printed on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from docquery.adapters.local.summary_rows import (
    is_lab_table,
    is_medication_table,
    key_value_result,
    lab_results,
    line_result,
    medications,
    status_rank,
)
from docquery.domain.reading import Block, BlockKind, PageReading, Table
from docquery.text.clinical_terms import find
from docquery.text.medications import Status, is_current, medication_status

_I = re.IGNORECASE
# Section topics by heading (or key) words; the first that matches wins.
_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("diagnoses", re.compile(r"diagnos|impression|assessment|problem list|\bproblems\b", _I)),
    ("medications", re.compile(r"medic(?:ation|ine)s?\b|\bdrugs\b|prescri|\bmeds\b", _I)),
    (
        "follow_up",
        re.compile(r"follow|appointment|\bplan\b|arrangement|disposition|recommend|action", _I),
    ),
    ("findings", re.compile(r"result|investigation|findings|laborator|\blabs?\b|imaging", _I)),
    (
        "overview",
        re.compile(
            r"complaint|reason|present|indication|clinical summary|hospital course|"
            r"\bcourse\b|summary of|background|comment|interpretation|conclusion|history of",
            _I,
        ),
    ),
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-•*·▪◦]|[a-z][.)])\s+")
# A lab value in prose: a number with a unit ("6.1 mmol/L", "15.6 x10^9/L", "53 mg/L").
_LAB_VALUE = re.compile(
    r"\d(?:\.\d+)?\s?(?:mmol/l|mg/dl|g/dl|g/l|mg/l|umol/l|µmol/l|μmol/l|u/l|iu/l|ng/ml|ng/l|"
    r"pg/ml|mmhg|mu/l|miu/l|pmol/l|nmol/l|fl\b|%|x\s?10)",
    _I,
)
_ABNORMAL_WORDS = re.compile(
    r"\b(?:high|low|raised|elevated|reduced|decreased|increased|abnormal|deranged|"
    r"critical|hyper\w+|hypo\w+)\b|\((?:H|L|HH|LL)\)",
    _I,
)
_DOSE = re.compile(r"\d\s?(?:mg|mcg|micrograms?|µg|g|ml|units?|iu|mmol|meq|puffs?)\b", _I)
_SALUTATION = re.compile(r"^Dear [^,]{1,60},\s*", _I)
_DIGIT = re.compile(r"\d")
_PATIENT_KEY = re.compile(r"^(?:patient(?: name)?|name)$", _I)
_MIN_OVERVIEW_WORDS = 6
_MIN_FINDING_WORDS = 4
_STOP_NEAR = 10


@dataclass(frozen=True, slots=True)
class Fact:
    """One statement for a section, with its page and priority (lower comes first)."""

    section: str
    text: str
    page: int
    rank: int = 1
    # The name of a medicine this fact states as stopped or held ("" for any other fact).
    stopped: str = ""


def structured_facts(pages: Sequence[PageReading]) -> list[Fact]:
    """Every fact the document's structure states, in document order."""
    facts: list[Fact] = []
    title = _title(pages)
    for page in pages:
        # "Discharge diagnoses: 1. ..." then "2. ...": list items carry on the key's topic.
        opened: tuple[str, ...] = ()
        for printed in page.blocks:
            # The document's title names no topic: "Laboratory Results" is not a findings section.
            block = replace(printed, section=tuple(h for h in printed.section if h != title))
            if block.kind is BlockKind.LIST_ITEM and opened:
                block = replace(block, section=(*block.section, *opened))
            elif block.kind is BlockKind.KEY_VALUE and _topic((block.key,)):
                opened = (block.key,)
            elif block.is_content:
                opened = ()
            facts.extend(_facts(page, block))
    return facts


def has_structure(pages: Sequence[PageReading]) -> bool:
    """Whether any page was read into blocks beyond plain paragraphs."""
    return any(
        block.kind not in (BlockKind.PARAGRAPH, BlockKind.FURNITURE)
        for page in pages
        for block in page.blocks
    )


def _title_block(pages: Sequence[PageReading]) -> Block | None:
    """The title: a heading that opens the document, before any other content."""
    first = next((b for p in pages for b in p.blocks if b.is_content), None)
    return first if first is not None and first.kind is BlockKind.HEADING else None


def _title(pages: Sequence[PageReading]) -> str | None:
    block = _title_block(pages)
    return block.text if block is not None else None


def title_fact(pages: Sequence[PageReading]) -> Fact | None:
    """The document's title and the patient it names, if printed (not in furniture)."""
    title = _title_block(pages)
    patient = next(
        (
            (p.number, b.value)
            for p in pages
            for b in p.blocks
            if b.kind is BlockKind.KEY_VALUE and _PATIENT_KEY.match(b.key.strip()) and b.value
        ),
        None,
    )
    if title is None:
        return None
    page = next(p.number for p in pages if title in p.blocks)
    text = _clean(title.text)
    if patient is not None and patient[0] == page:
        text += f", patient {_clean(patient[1])}"
    return Fact("overview", text + ".", page, rank=0)


def _facts(page: PageReading, block: Block) -> Iterator[Fact]:
    if block.kind is BlockKind.TABLE and block.table is not None:
        yield from _table_facts(page.number, block.table, block.section)
    elif block.kind is BlockKind.KEY_VALUE:
        yield from _key_value_facts(page.number, block)
    elif block.kind in (BlockKind.PARAGRAPH, BlockKind.LIST_ITEM):
        yield from _text_facts(page.number, block)


def _table_facts(page: int, table: Table, section: tuple[str, ...]) -> Iterator[Fact]:
    under = _topic(section) == "medications"
    if is_medication_table(table, under_medications=under):
        for medication in medications(table, _heading_status(section)):
            stopped = "" if is_current(medication.status) else medication.name
            statement = medication.statement()
            yield Fact("medications", statement, page, status_rank(medication.status), stopped)
    elif is_lab_table(table):
        for result in lab_results(table):
            if result.abnormal:
                yield Fact("findings", result.statement(), page, rank=0)


def _key_value_facts(page: int, block: Block) -> Iterator[Fact]:
    own = _topic((block.key,))
    if own in ("diagnoses", "follow_up", "medications"):
        # "Discharge diagnoses: 1. Alcohol-related liver disease": the key is the heading.
        yield from _topic_facts(page, own, block.value, (block.key,))
        return
    result = key_value_result(block.key, block.value)
    if result is not None:
        # A lab result: an abnormal one is a finding, a normal one is left out.
        if result.abnormal:
            yield Fact("findings", result.statement(), page, rank=0)
        return
    # Any other key ("Social history:", "Condition at discharge:") is its own small section.
    topic = _topic(block.section)
    if topic in ("follow_up", "medications") and not own:
        yield from _topic_facts(page, topic, block.text, block.section, strict=True)
    else:
        yield from _prose_facts(page, _clean(block.text), own, block.kind)


def _text_facts(page: int, block: Block) -> Iterator[Fact]:
    topic = _topic(block.section)
    strict = block.kind is BlockKind.PARAGRAPH
    if topic in ("diagnoses", "follow_up", "medications"):
        yield from _topic_facts(page, topic, block.text, block.section, strict=strict)
    else:
        yield from _prose_facts(page, _clean(block.text), topic, block.kind)


def _topic_facts(
    page: int, topic: str, printed: str, context: Sequence[str], *, strict: bool = False
) -> Iterator[Fact]:
    """A line of a diagnoses, follow-up or medications section (or key) as one fact."""
    text = _clean(_LIST_MARK.sub("", printed))
    if not text:
        return
    if topic != "medications":
        yield Fact(topic, text, page)
    elif not strict or _DOSE.search(text) or medication_status(text):
        yield _medication_line(page, text, _heading_status(context))
    else:
        # A sentence that is not a medicine (a signature, advice) under a medications heading.
        yield from _prose_facts(page, text, None, BlockKind.PARAGRAPH)


def _prose_facts(page: int, text: str, topic: str | None, kind: BlockKind) -> Iterator[Fact]:
    for sentence in _SENTENCE_END.split(_SALUTATION.sub("", text)):
        if (result := line_result(sentence)) is not None:
            # A result line: kept when abnormal, as value, unit, range and flag.
            if result.abnormal:
                yield Fact("findings", result.statement(), page, rank=0)
        elif _LAB_VALUE.search(sentence) or (_DIGIT.search(sentence) and find(sentence)):
            abnormal = bool(_ABNORMAL_WORDS.search(sentence))
            yield Fact("findings", sentence, page, rank=0 if abnormal else 1)
        elif topic == "findings" and len(sentence.split()) >= _MIN_FINDING_WORDS:
            yield Fact("findings", sentence, page, rank=2)
        elif kind is BlockKind.PARAGRAPH and _is_prose(sentence):
            # Prose under an opening heading comes first; other prose only fills in.
            yield Fact("overview", sentence, page, rank=1 if topic == "overview" else 2)


def _is_prose(sentence: str) -> bool:
    # An address or letterhead has no full stop; a sentence does.
    return sentence.endswith((".", "!", "?")) and len(sentence.split()) >= _MIN_OVERVIEW_WORDS


def _medication_line(page: int, text: str, heading_status: Status | None) -> Fact:
    status = medication_status(text) or heading_status
    if not is_current(status):
        # The stop word leads (unless it is already near the start), so it stands beside the
        # name however long the line is.
        if is_current(medication_status(" ".join(text.split()[:_STOP_NEAR]))):
            text = f"{Status.STOPPED.value.upper()}: {text}"
        return Fact("medications", text, page, 2, stopped=text.removeprefix("STOPPED: "))
    return Fact("medications", text, page, status_rank(status))


def _heading_status(path: Sequence[str]) -> Status | None:
    """The status a medications heading states ("Medicines stopped"), if it does."""
    return medication_status(path[-1]) if path and _topic(path[-1:]) == "medications" else None


def _topic(path: Sequence[str]) -> str | None:
    """The topic of the innermost heading (or key) that names one."""
    for heading in reversed(path):
        for name, pattern in _TOPICS:
            if pattern.search(heading):
                return name
    return None


def _clean(text: str) -> str:
    return " ".join(text.split())
