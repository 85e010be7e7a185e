"""bench/clinical_qa.py's scoring rules, checked against the data set README's own examples."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The scoring lives with its bench (bench/ is not a package and the service never imports it);
# appended, not prepended, so that no bench script can shadow a module the tests import.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _clinical_figures import (
    FIGURES,
    Reply,
    figure_value,
    score_question,
    score_summary,
)
from _clinical_scoring import (
    leaks,
    named_keys,
    norm,
    occurs,
    section_tokens,
    sentences,
    tokens,
    value_occurs,
    words,
)


def test_norm_folds_uk_spellings_in_the_readme_order() -> None:
    assert norm("Haemoglobin  and\tOEDEMA") == "hemoglobin and edema"
    assert norm("Anaesthesia, oesophagus, paediatric, tumour, sulphate, litre, fibre, centre") == (
        "anesthesia, esophagus, pediatric, tumor, sulfate, liter, fiber, center"
    )
    assert norm("Diarrhoea") == "diarrhea"  # oea -> ea
    assert norm("ﬁbre") == "fiber"  # NFKC takes the ligature apart first


def test_words_keep_plus_and_break_on_everything_else() -> None:
    assert words("C-reactive protein (CRP) 2+") == ["c", "reactive", "protein", "crp", "2+"]


def test_a_name_occurs_as_whole_consecutive_words() -> None:
    assert occurs("C-reactive protein", "c reactive protein was 8")
    assert occurs("haemoglobin", "Hemoglobin 10.2 g/dL")
    assert not occurs("protein", "proteinuria")
    assert not occurs("reactive protein", "reactive, not protein")
    assert not occurs("", "anything")


@pytest.mark.parametrize(
    ("value", "text", "found"),
    [
        ("134", "sodium 134 mmol/L", True),
        ("134", "1345", False),
        ("134", "13.4", False),
        ("134", "134.0", False),
        ("134", "was 134.", True),  # a full stop ends the sentence, not a decimal
        ("13.4", "Hb 13.4 g/dL", True),
        ("3.4", "13.4", False),
        ("< 5", "CRP <5 mg/L", True),
        ("<5", "CRP < 5 mg/L", True),
        ("<5", "CRP 5 mg/L", False),
        (">90", "eGFR >  90", True),
    ],
)
def test_a_value_occurs_only_as_itself(value: str, text: str, found: bool) -> None:
    assert value_occurs(value, text) is found


def test_naming_a_set_blanks_longer_names_first() -> None:
    analytes = {
        "hb": ["haemoglobin", "hb"],
        "hba1c": ["haemoglobin a1c", "hba1c"],
        "crp": ["c-reactive protein", "crp"],
    }
    assert named_keys(analytes, "Haemoglobin A1c was 64") == {"hba1c"}
    assert named_keys(analytes, "Haemoglobin A1c 64 and haemoglobin 102") == {"hba1c", "hb"}
    assert named_keys(analytes, "C-reactive protein 8") == {"crp"}


def test_tokens_drop_the_stopwords() -> None:
    assert tokens("The patient was not on any of these: Aspirin 75mg") == [
        "patient",
        "any",
        "aspirin",
        "75mg",
    ]


def test_sentences_split_at_ends_markers_and_lines() -> None:
    text = "Ramipril 5 mg [1] continued. Aspirin; stopped!\nMetformin? yes 1.5 mg"
    assert sentences(text) == [
        "Ramipril 5 mg ",
        " continued.",
        "Aspirin;",
        "stopped!",
        "Metformin?",
        "yes 1.5 mg",
    ]


def test_the_readme_leak_examples() -> None:
    metformin = ["metformin"]
    assert not leaks(metformin, "Metformin 500 mg oral twice daily STOPPED")
    assert leaks(metformin, "Discharge medicines: metformin, ramipril")


def test_a_stop_cue_counts_only_in_the_same_sentence_and_within_12_words() -> None:
    assert leaks(["metformin"], "Metformin 500 mg. It was stopped")
    far = "aspirin " + "one two three four five six seven eight nine ten eleven twelve stopped"
    assert leaks(["aspirin"], far)
    assert not leaks(["aspirin"], far.replace("twelve ", ""))
    assert not leaks(["aspirin"], "Patient told no longer to take aspirin")
    assert not leaks(["aspirin"], "Aspirin: do not take")
    assert leaks(["aspirin"], "Aspirin [1] held")  # a citation marker ends the sentence
    assert leaks(["aspirin"], "Continue aspirin [1] stopped ramipril")


def test_section_tokens_are_the_first_distinct_ones_without_list_numbers() -> None:
    text = "1. Left knee pain.\n2. Left knee effusion.\n" + " ".join(f"w{i}" for i in range(60))
    wanted = section_tokens(text)
    assert wanted[:4] == ["left", "knee", "pain", "effusion"]
    assert len(wanted) == 40
    assert "1" not in wanted


LAB: dict[str, Any] = {
    "id": "q1",
    "file": "pdfs/a.pdf",
    "kind": "lab_value",
    "scope": "document",
    "question": "What was the sodium?",
    "gold": {
        "names": ["na", "sodium"],
        "value": "134",
        "locations": [{"file": "pdfs/a.pdf", "page": 2}],
    },
}


def _cite(file: str, page: int, quote: str = "") -> dict[str, object]:
    return {"source": 1, "document_id": "d", "file": file, "page": page, "quote": quote}


def test_a_lab_value_needs_value_name_and_a_citation_on_a_gold_page() -> None:
    right = Reply(200, "Sodium 134 mmol/L [1]", True, [_cite("pdfs/a.pdf", 2)])
    assert score_question(LAB, right)["lab_ok"] == 1
    wrong_page = Reply(200, "Sodium 134 mmol/L [1]", True, [_cite("pdfs/a.pdf", 1)])
    assert score_question(LAB, wrong_page)["lab_ok"] == 0
    assert (
        score_question(LAB, Reply(200, "Na 1345 [1]", True, [_cite("pdfs/a.pdf", 2)]))["lab_ok"]
        == 0
    )
    error = score_question(LAB, Reply(500))
    assert (error["lab_ok"], error["lab_n"], error["cit_all"]) == (0, 1, 0)


def test_a_library_answer_citing_another_patient_scores_zero() -> None:
    question = LAB | {
        "scope": "library",
        "gold": LAB["gold"] | {"patient_files": ["pdfs/a.pdf"]},
    }
    mixed = Reply(200, "Sodium 134 [1] [2]", True, [_cite("pdfs/a.pdf", 2), _cite("pdfs/b.pdf", 1)])
    counts = score_question(question, mixed)
    assert (counts["lab_ok"], counts["iso_ok"], counts["iso_n"]) == (0, 0, 1)
    assert (counts["cit_gold"], counts["cit_all"]) == (1, 2)


def test_active_meds_recall_and_leak() -> None:
    question: dict[str, Any] = {
        "id": "q2",
        "file": "pdfs/a.pdf",
        "kind": "active_meds",
        "scope": "document",
        "question": "What medications was the patient discharged on?",
        "gold": {
            "active": [{"name": "Ramipril", "names": ["ramipril"]}],
            "stopped": [{"name": "Metformin", "names": ["metformin"]}],
            "locations": [{"file": "pdfs/a.pdf", "page": 1}],
        },
    }
    counts = score_question(question, Reply(200, "Discharge medicines: metformin, ramipril"))
    assert (counts["act_named"], counts["act_all"], counts["act_leak"]) == (1, 1, 1)
    error = score_question(question, Reply(503))
    assert (error["act_all"], error["act_answers"]) == (1, 0)  # errors are left out of the leak
    library = question | {"scope": "library", "gold": question["gold"] | {"patient_files": []}}
    counts = score_question(library, Reply(200, "Metformin, ramipril [1]", True, [_cite("b", 1)]))
    assert (counts["act_named"], counts["iso_ok"], counts["act_leak"]) == (0, 0, 1)


def test_abnormal_f1_over_named_analytes() -> None:
    question = {
        "id": "q3",
        "file": "pdfs/a.pdf",
        "kind": "abnormal_labs",
        "scope": "document",
        "question": "Which results were abnormal?",
        "gold": {
            "flagged": [{"analyte": "na"}, {"analyte": "k"}],
            "analytes": {"na": ["sodium"], "k": ["potassium"], "cl": ["chloride"]},
            "locations": [{"file": "pdfs/a.pdf", "page": 1}],
        },
    }
    counts = score_question(question, Reply(200, "Sodium 130 L, chloride 99"))
    assert (counts["ab_tp"], counts["ab_fp"], counts["ab_fn"]) == (1, 1, 1)
    f1 = next(f for f in FIGURES if f.name == "abnormal_labs F1")
    assert figure_value(f1, counts) == pytest.approx(0.5)


def test_section_hit_needs_a_quote_mostly_from_the_section() -> None:
    question = {
        "id": "q4",
        "file": "pdfs/a.pdf",
        "kind": "section",
        "scope": "document",
        "question": "What was the postoperative diagnosis?",
        "gold": {
            "header": "POSTOPERATIVE DIAGNOSIS",
            "printed_header": "Postoperative Diagnosis",
            "text": "Left knee effusion.",
            "locations": [{"file": "pdfs/a.pdf", "page": 1}],
        },
    }
    cited = [_cite("pdfs/a.pdf", 1, "Left knee effusion drained under general anaesthesia today")]
    counts = score_question(question, Reply(200, "Left knee effusion [1]", True, cited))
    assert (counts["sec_hit"], counts["sec_recall"]) == (0, 1.0)  # 3 of 8 tokens: below 60%
    cited = [_cite("pdfs/a.pdf", 1, "POSTOPERATIVE DIAGNOSIS: Left knee effusion")]
    assert score_question(question, Reply(200, "Left knee [1]", True, cited))["sec_hit"] == 1


def test_summary_facts_and_leak() -> None:
    entry = {
        "file": "pdfs/a.pdf",
        "must_contain": [
            {"type": "medication", "names": ["ramipril"]},
            {"type": "abnormal_result", "names": ["sodium"], "value": "130"},
        ],
        "must_not_contain_as_active": [{"names": ["metformin"]}],
    }
    counts = score_summary(entry, ["Ramipril 5 mg (new)", "Sodium", "130 mmol/L", "Metformin"])
    assert (counts["sum_found"], counts["sum_facts"], counts["sum_leak_docs"]) == (1, 2, 1)
    assert score_summary(entry, None)["sum_found"] == 0
