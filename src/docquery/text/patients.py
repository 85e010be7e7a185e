"""Patients: the name a document states for its patient, and the one a question asks about."""

from __future__ import annotations

import re
from collections.abc import Iterable

from docquery.text.clinical_terms import find

# "Patient: LOPEZ, Maria DOB: ...", "Patient name: Maria Lopez", "Name:\nMaria Lopez".
_STATED = re.compile(
    r"\b(?i:patient(?:'s)?\s+name|patient|name)\s*:\s*"
    r"([A-Z][A-Za-z'\u2019-]+(?:,?[ \t]+[A-Z][A-Za-z'\u2019-]+){1,3})"
)
# Words a name stops at: the banner's next field.
_FIELD = frozenset(
    str.split("dob d.o.b date born mrn nhs sex age gender hospital id no number ward nhi")
)
# Two or more capitalised words in a question: "Maria Lopez's", "for Dmitri Nilsson".
_ASKED = re.compile(r"\b([A-Z][a-z'\u2019-]+(?:\s+[A-Z][a-z'\u2019-]+)+)")
# Capitalised words that are no name: titles, and the words a question starts with.
_NOT_NAMES = frozenset(
    str.split(
        "dr mr mrs ms miss prof doctor what which who whom whose how when where why is was were "
        "did does do are can could list show give tell find please"
    )
)


def stated_patient(texts: Iterable[str]) -> str:
    """The patient's name as the first text stating one gives it ("" when none does)."""
    for text in texts:
        for match in _STATED.finditer(text):
            kept = []
            for word in re.split(r"[,\s]+", match[1]):
                if word.casefold().strip(".") in _FIELD:
                    break
                kept.append(word)
            if len(kept) >= 2:
                # "LOPEZ, Maria" is shown as "Maria LOPEZ".
                surname_first = "," in match[1].split()[0]
                return " ".join([*kept[1:], kept[0]] if surname_first else kept)
    return ""


def asked_patient(question: str) -> frozenset[str]:
    """The words of the patient name a question gives (casefolded), empty when it names none."""
    for match in _ASKED.finditer(question.strip()):
        parts = [re.sub(r"['\u2019]s$", "", w) for w in match[1].split()]
        parts = [p for p in parts if p.casefold() not in _NOT_NAMES]
        if _is_clinical(" ".join(parts)):
            continue  # "Discharge Medications", "Full Blood Count": capitals, not a name
        if len(parts) >= 2:
            return frozenset(p.casefold() for p in parts)
    return frozenset()


def _is_clinical(text: str) -> bool:
    return any(find(text, kind) for kind in ("analyte", "section", "drug_class"))


def is_patient(stated: str, asked: frozenset[str]) -> bool:
    """Whether the stated name is the asked patient: every asked word is one of its words."""
    words = frozenset(w.casefold() for w in re.split(r"[,\s]+", stated) if w)
    return bool(asked) and asked <= words
