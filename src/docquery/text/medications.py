"""Medication status: the word on a medication line that says whether it is taken now.

A stopped, discontinued or held medicine is never a current one: summaries and answers file
it apart and name it with its stop word beside it.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    CONTINUED = "continued"
    STOPPED = "stopped"
    HELD = "held"


# The words that set a status, longest phrases first; matched as whole words, any case.
_WORDS: tuple[tuple[str, Status], ...] = (
    ("no longer", Status.STOPPED),
    ("do not take", Status.STOPPED),
    ("not to take", Status.STOPPED),
    ("discontinued", Status.STOPPED),
    ("discontinue", Status.STOPPED),
    ("stopped", Status.STOPPED),
    ("stop", Status.STOPPED),
    ("ceased", Status.STOPPED),
    ("deprescribed", Status.STOPPED),
    ("withdrawn", Status.STOPPED),
    ("withheld", Status.HELD),
    ("withhold", Status.HELD),
    ("held", Status.HELD),
    ("hold", Status.HELD),
    ("on hold", Status.HELD),
    ("suspended", Status.HELD),
    ("paused", Status.HELD),
    ("new", Status.NEW),
    ("started", Status.NEW),
    ("start", Status.NEW),
    ("commenced", Status.NEW),
    ("initiated", Status.NEW),
    ("added", Status.NEW),
    ("changed", Status.CHANGED),
    ("increased", Status.CHANGED),
    ("decreased", Status.CHANGED),
    ("reduced", Status.CHANGED),
    ("dose changed", Status.CHANGED),
    ("adjusted", Status.CHANGED),
    ("continued", Status.CONTINUED),
    ("continue", Status.CONTINUED),
    ("unchanged", Status.CONTINUED),
    ("continuing", Status.CONTINUED),
)
# Stopping words win over the others: "Aspirin: continue until Friday, then stop" is stopped.
_PRIORITY = (Status.STOPPED, Status.HELD, Status.CHANGED, Status.NEW, Status.CONTINUED)
_PATTERNS = {
    status: re.compile(
        r"(?<![\w-])(?:"
        + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w, s in _WORDS if s is status)
        + r")(?![\w-])",
        re.IGNORECASE,
    )
    for status in _PRIORITY
}
# Names of the status column of a medication table.
_STATUS_HEADERS = re.compile(r"\b(?:status|action|change|changes|comment|comments)\b", re.I)


def medication_status(text: str) -> Status | None:
    """The status a medication line states, or None; a stop word outranks every other word."""
    for status in _PRIORITY:
        if _PATTERNS[status].search(text):
            return status
    return None


def is_current(status: Status | None) -> bool:
    """Whether a medicine with this status is taken now (no status stated counts as taken)."""
    return status not in (Status.STOPPED, Status.HELD)


def is_status_header(header: str) -> bool:
    """Whether a table column with this header holds medication statuses."""
    return bool(_STATUS_HEADERS.search(header))
