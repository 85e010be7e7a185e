"""Table rows and key-value lines read as clinical facts: lab results and medications.

A lab result is abnormal when its flag says so (H, L, HH, LL, *, A, high, low, abnormal,
critical) or its value lies outside the range printed beside it. A medication's status comes
from its table's status column, else from the status words of its row (text/medications.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docquery.domain.reading import Row, Table
from docquery.text.medications import Status, is_status_header, medication_status

_I = re.IGNORECASE
_NAME_HEADER = re.compile(r"\b(?:test|analyte|investigation|parameter|component|name)\b", _I)
_VALUE_HEADER = re.compile(r"\b(?:result|value|level)s?\b", _I)
_UNIT_HEADER = re.compile(r"\bunits?\b", _I)
_RANGE_HEADER = re.compile(r"\b(?:ref\w*|range|normal|interval|limits?)\b", _I)
_FLAG_HEADER = re.compile(r"\b(?:flag|abn\w*|h/l|alert)\b", _I)
_DRUG_HEADER = re.compile(r"\b(?:medic\w*|medicines?|drugs?)\b", _I)
_DOSE_HEADER = re.compile(r"\b(?:dose|strength|dosage)\b", _I)
_ROUTE_HEADER = re.compile(r"\broute\b", _I)
_FREQUENCY_HEADER = re.compile(r"\b(?:frequency|freq|directions|schedule|sig)\b", _I)
_NOTES_HEADER = re.compile(r"\b(?:notes?|comments?|reason|indication)\b", _I)
_STATUS_HEADER = re.compile(r"\bstatus\b", _I)

_ABNORMAL_FLAG = re.compile(
    r"^(?:\*+|!+|[HL]{1,2}\*?|A|high|low|abnormal|abn|critical|crit|positive|pos)$", _I
)
_NUMBER = re.compile(r"^[<>]?\s*(\d+(?:\.\d+)?)")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:-|\u2013|to)\s*(\d+(?:\.\d+)?)")
_BOUND = re.compile(r"([<>]=?|≤|≥)\s*(\d+(?:\.\d+)?)")
# "134 mmol/L (135-145) L", "4.1 (ref 3.5-5.0) mmol/L H": value, unit, range and flag.
_KEY_VALUE = re.compile(
    r"^(?P<value>[<>]?\s*\d+(?:\.\d+)?)\s*(?P<unit>[^\s(]*)\s*"
    r"(?:\((?:ref\w*[:.]?\s*)?(?P<range>[^)]*)\))?\s*(?P<unit2>[^\s(]*)\s*(?P<flag>\S*)\s*$",
    _I,
)
# A result cell that carries its flag: "134 L", "134 (L)", "6.1*".
_VALUE_FLAG = re.compile(r"^(?P<value>[<>]?\s*\d+(?:\.\d+)?)\s*\(?(?P<flag>HH|LL|H|L|\*+)\)?$", _I)
# An analyte's name, then its value: the start of a result line.
_NAME_VALUE = re.compile(r"^(?P<name>[A-Za-z][\w ,()/+-]*?)\s*:?\s+(?P<rest>[<>]?\s*\d.*)$")
STATUS_ORDER = (Status.NEW, Status.CHANGED, Status.STOPPED, Status.HELD, Status.CONTINUED)


@dataclass(frozen=True, slots=True)
class Result:
    """One lab result as printed."""

    name: str
    value: str
    unit: str
    range: str
    flag: str

    @property
    def abnormal(self) -> bool:
        return bool(_ABNORMAL_FLAG.match(self.flag.strip())) or outside(self.value, self.range)

    def statement(self) -> str:
        parts = [self.name, self.value, self.unit]
        if self.range:
            parts.append(f"(ref {self.range})")
        parts.append(self.flag)
        return " ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class Medication:
    """One medication row: its printed parts and its status (None when none is stated)."""

    name: str
    dose: str
    directions: str
    notes: str
    status: Status | None

    def statement(self) -> str:
        # The status word sits right after the name and dose: a stopped medicine cannot read
        # as a current one, whatever sentence it is quoted in.
        head = " ".join(part for part in (self.name, self.dose) if part)
        text = f"{head}: {self.status.value.upper()}" if self.status else head
        if self.directions:
            text += f", {self.directions}"
        if self.notes and self.notes.casefold() != (self.status or "").casefold():
            text += f" ({self.notes})"
        return text


def outside(value: str, printed_range: str) -> bool:
    """Whether a numeric value lies outside a printed range ("135-145", "<5", ">60")."""
    number = _NUMBER.match(value.strip())
    if number is None or not printed_range:
        return False
    x = float(number.group(1))
    if match := _RANGE.search(printed_range):
        return not float(match.group(1)) <= x <= float(match.group(2))
    if match := _BOUND.search(printed_range):
        bound = float(match.group(2))
        return x > bound if match.group(1) in ("<", "<=", "≤") else x < bound
    return False


def _column(header: Row, pattern: re.Pattern[str], taken: set[int]) -> int | None:
    for index, cell in enumerate(header.cells):
        if index not in taken and pattern.search(cell.text):
            taken.add(index)
            return index
    return None


def _cell(row: Row, index: int | None) -> str:
    if index is None or index >= len(row.cells):
        return ""
    return " ".join(row.cells[index].text.split())


def is_medication_table(table: Table, *, under_medications: bool = False) -> bool:
    """A drug column beside a dose or status column; under a medications heading, a dose
    column is enough."""
    header = table.header
    if header is None:
        return False
    texts = [cell.text for cell in header.cells]
    named = under_medications or any(_DRUG_HEADER.search(t) for t in texts)
    return named and any(_DOSE_HEADER.search(t) or is_status_header(t) for t in texts)


def is_lab_table(table: Table) -> bool:
    header = table.header
    if header is None:
        return False
    texts = [cell.text for cell in header.cells]
    has_value = any(_VALUE_HEADER.search(t) for t in texts)
    return has_value and any(_RANGE_HEADER.search(t) or _FLAG_HEADER.search(t) for t in texts)


def lab_results(table: Table) -> list[Result]:
    """Every body row of a lab table as a Result (name, value, unit, range, flag)."""
    header = table.header
    if header is None:
        return []
    taken: set[int] = set()
    value = _column(header, _VALUE_HEADER, taken)
    unit = _column(header, _UNIT_HEADER, taken)
    ranged = _column(header, _RANGE_HEADER, taken)
    flag = _column(header, _FLAG_HEADER, taken)
    name = _column(header, _NAME_HEADER, taken)
    if name is None:
        name = min(set(range(len(header.cells))) - taken, default=0)
    results = []
    for row in table.body:
        printed, flagged = _cell(row, value), _cell(row, flag)
        if not flagged and (match := _VALUE_FLAG.match(printed)):
            printed, flagged = match["value"], match["flag"]
        results.append(
            Result(_cell(row, name), printed, _cell(row, unit), _cell(row, ranged), flagged)
        )
    return [r for r in results if r.name and r.value]


def medications(table: Table, heading_status: Status | None = None) -> list[Medication]:
    """Every body row of a medication table with its status; a row that states none takes
    its heading's ("Medicines stopped")."""
    header = table.header
    if header is None:
        return []
    taken: set[int] = set()
    name = _column(header, _DRUG_HEADER, taken)
    status = _column(header, _STATUS_HEADER, taken)
    dose = _column(header, _DOSE_HEADER, taken)
    directions = [
        _column(header, _ROUTE_HEADER, taken),
        _column(header, _FREQUENCY_HEADER, taken),
    ]
    notes = _column(header, _NOTES_HEADER, taken)
    if name is None:  # "Name | Dose | ..." under a medications heading: the first free column
        name = min(set(range(len(header.cells))) - taken, default=0)
    found = []
    for row in table.body:
        stated = (
            medication_status(_cell(row, status))
            or medication_status(" ".join(c.text for c in row.cells))
            or heading_status
        )
        found.append(
            Medication(
                _cell(row, name),
                _cell(row, dose),
                " ".join(t for t in (_cell(row, i) for i in directions) if t),
                _cell(row, notes),
                stated,
            )
        )
    return [m for m in found if m.name]


def key_value_result(key: str, value: str) -> Result | None:
    """A lab result printed as "Sodium: 134 mmol/L (135-145) L", or None if it is not one."""
    match = _KEY_VALUE.match(" ".join(value.split()))
    if match is None or not key.strip():
        return None
    unit = match.group("unit") or match.group("unit2") or ""
    flag = match.group("flag") or ""
    if match.group("unit") and match.group("unit2"):
        flag = flag or match.group("unit2")
    return Result(key.strip(), match.group("value"), unit, match.group("range") or "", flag)


def line_result(line: str) -> Result | None:
    """A result printed as a line of its own ("Sodium 134 mmol/L (135-145) L"), when it shows
    a numeric range or a flag; None for prose ("Sodium was 122 mmol/L (low).")."""
    match = _NAME_VALUE.match(" ".join(line.split()))
    if match is None:
        return None
    result = key_value_result(match["name"], match["rest"])
    if result is None:
        return None
    if any(c.isdigit() for c in result.range) or _ABNORMAL_FLAG.match(result.flag):
        return result
    return None


def status_rank(status: Status | None) -> int:
    """Changes first: new, changed, stopped, held, then continued and unstated."""
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)
