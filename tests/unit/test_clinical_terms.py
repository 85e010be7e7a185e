"""Clinical terms: every analyte and section topic is found by each of its names."""

from __future__ import annotations

import pytest

from docquery.text import clinical_terms
from docquery.text.clinical_terms import find, terms

_CASES = [(t.kind, t.canonical, name) for t in terms() for name in t.names]


@pytest.mark.parametrize(("kind", "canonical", "name"), _CASES)
def test_each_name_finds_its_term(kind: str, canonical: str, name: str) -> None:
    found = find(f"What was the {name} on this report?", kind)
    assert canonical in [t.canonical for t in found]


def test_uk_and_us_spellings_name_one_analyte() -> None:
    assert [t.canonical for t in find("Haemoglobin 10.2 g/dL")] == ["haemoglobin"]
    assert [t.canonical for t in find("hemoglobin")] == ["haemoglobin"]


def test_a_longer_name_wins_over_one_inside_it() -> None:
    assert [t.canonical for t in find("Haemoglobin A1c 58 mmol/mol")] == ["hba1c"]


def test_a_name_matches_whole_words_only() -> None:
    assert find("Nasal swab negative") == []
    assert clinical_terms.names(terms()[0], "Hb 98 g/L")


def test_expand_appends_the_names_of_the_terms_a_text_names() -> None:
    expanded = clinical_terms.expand("What was the patient's na?")
    assert expanded.startswith("What was the patient's na? ")
    assert "sodium" in expanded.split()
    assert "apixaban" in clinical_terms.expand("Which anticoagulant was started?").split()
    assert clinical_terms.expand("What is the capital of France?") == (
        "What is the capital of France?"
    )
