"""Patients: the name a document states, the one a question asks about, and whether they match."""

from __future__ import annotations

import pytest

from docquery.text.patients import asked_patient, is_patient, stated_patient


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Lab\nPatient: LOPEZ, Maria   MRN: 4471203   DOB: 02/03/1951", "Maria LOPEZ"),
        ("Patient: Dmitri Nilsson DOB: 17/06/1977", "Dmitri Nilsson"),
        ("Operative Note\nPatient: \nRahul Xu\nDOB: \nJan 14, 1992", "Rahul Xu"),
        ("Patient name: Ana Achterberg\nSex: F", "Ana Achterberg"),
        ("The patient: was seen.", ""),
    ],
)
def test_the_stated_patient(text: str, name: str) -> None:
    assert stated_patient([text]) == name


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("What was Maria Lopez's potassium?", {"maria", "lopez"}),
        ("Ana Achterberg's vitamin B12", {"ana", "achterberg"}),
        ("Which medications were stopped for Grace Grimaldi?", {"grace", "grimaldi"}),
        ("What was the sodium?", set()),
        ("What is the TSH on this report?", set()),
        ("What did Dr Patel say?", set()),
        ("What were the Discharge Medications?", set()),
        ("What was the White Cell Count?", set()),
    ],
)
def test_the_asked_patient(question: str, words: set[str]) -> None:
    assert asked_patient(question) == frozenset(words)


def test_a_stated_name_matches_when_it_holds_every_asked_word() -> None:
    asked = asked_patient("What was Maria Lopez's potassium?")
    assert is_patient("Maria LOPEZ", asked)
    assert not is_patient("Maria Holloway", asked)
    assert not is_patient("", asked)
    assert not is_patient("Maria Lopez", frozenset())
