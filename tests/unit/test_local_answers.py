"""Local answers: extractive, deterministic, every citation a verbatim sentence of its passage."""

from __future__ import annotations

import pytest

from docquery.adapters.local.answerer import MAX_SENTENCES, terms
from docquery.adapters.local.summariser import LocalLanguageModel
from docquery.domain.reading import Block, BlockKind, PageReading
from docquery.domain.search import Draft, Passage
from docquery.services.citations import verify
from docquery.text.answers import NOT_FOUND_ANSWER

DISCHARGE = [
    """DISCHARGE SUMMARY
Patient: John Example, 67-year-old male.
The patient was admitted with fever, productive cough and shortness of breath for four days.
Hospital course:
He was treated with intravenous antibiotics and supplemental oxygen and improved steadily.
Chest X-ray showed right lower lobe consolidation.
Blood cultures were nega-
tive after two days of incubation.
""",
    """Diagnoses:
1. Community-acquired pneumonia, right lower lobe (J18.1).
2. Type 2 diabetes mellitus, poorly controlled.
Discharge medications:
- Amoxicillin-clavulanate 875 mg by mouth twice daily for 5 more days.
- Metformin 1000 mg twice daily with meals.
""",
    """Follow-up:
Follow up with Dr. Patel in 1 week.
Repeat chest X-ray in 6 weeks to confirm resolution of the consolidation.
""",
]


def discharge_passages() -> list[Passage]:
    return [
        Passage(number, "doc-1", "Discharge summary", number, text)
        for number, text in enumerate(DISCHARGE, start=1)
    ]


def page_texts(passages: list[Passage]) -> dict[tuple[str, int], str]:
    return {(p.document_id, p.page): p.text for p in passages}


async def answer(question: str, passages: list[Passage] | None = None) -> Draft:
    return await LocalLanguageModel().answer(question, passages or discharge_passages())


async def test_the_best_matching_sentence_answers_with_its_source() -> None:
    draft = await answer("Which antibiotics was the patient treated with?")
    first = draft.citations[0]
    assert first.source == 1
    assert first.quote == (
        "He was treated with intravenous antibiotics and supplemental oxygen and improved steadily."
    )
    assert draft.text.startswith(first.quote + " [1]")


async def test_a_medication_question_finds_the_medication_lines() -> None:
    draft = await answer("What dose of metformin?")
    assert [(c.source, c.quote) for c in draft.citations] == [
        (2, "Metformin 1000 mg twice daily with meals.")
    ]
    assert draft.text == "Metformin 1000 mg twice daily with meals. [2]"


async def test_words_broken_over_lines_are_joined_in_the_text_but_quoted_as_written() -> None:
    draft = await answer("Were the blood cultures negative?")
    (citation,) = [c for c in draft.citations if "cultures" in c.quote]
    assert citation.quote == "Blood cultures were nega- tive after two days of incubation."
    assert "Blood cultures were negative after two days of incubation. [1]" in draft.text


@pytest.mark.parametrize(
    "question",
    [
        "Which antibiotics was the patient treated with?",
        "Were the blood cultures negative?",
        "When is the follow up chest X-ray?",
        "What medications at discharge, and which diagnoses?",
    ],
)
async def test_every_citation_passes_verification(question: str) -> None:
    passages = discharge_passages()
    draft = await answer(question, passages)
    verified = verify(draft, passages, page_texts(passages))
    assert verified.grounded
    assert len(verified.citations) == len(draft.citations) >= 1
    assert verified.text == draft.text


async def test_at_most_three_sentences_in_score_order() -> None:
    passages = [
        Passage(1, "d", "t", 1, "Dizziness was mild. Dizziness was treated. Sodium normal."),
        Passage(2, "d", "t", 2, "Dizziness was worse on admission today."),
        Passage(3, "d", "t", 3, "Dizziness came back after dizziness treatment."),
    ]
    # Not an analyte: a lab value is answered from its one best unit per document instead.
    draft = await answer("dizziness", passages)
    assert len(draft.citations) == MAX_SENTENCES
    assert "Sodium normal." not in draft.text


async def test_ties_prefer_a_source_not_cited_yet() -> None:
    passages = [
        Passage(1, "d", "t", 1, "Creatinine was stable. Creatinine was repeated. Other text here."),
        Passage(2, "d", "t", 2, "Creatinine was measured twice. Nothing else of note here."),
    ]
    draft = await answer("creatinine", passages)
    assert [c.source for c in draft.citations] == [1, 2, 1]


async def test_a_weak_match_beside_a_strong_one_is_left_out() -> None:
    passages = [
        Passage(1, "d", "t", 1, "Troponin peaked at 2.3 ng/mL on day two of admission."),
        Passage(2, "d", "t", 2, "The second day was quiet on the ward."),
    ]
    draft = await answer("What was the troponin peak on day two?", passages)
    assert [c.source for c in draft.citations] == [1]


@pytest.mark.parametrize(
    "question", ["What is the meaning of life?", "What was it?", "Zzyzx quux?", ""]
)
async def test_no_matching_word_means_not_found_and_no_citations(question: str) -> None:
    assert await answer(question) == Draft(NOT_FOUND_ANSWER, ())


async def test_no_passages_means_not_found() -> None:
    assert await LocalLanguageModel().answer("Potassium?", []) == Draft(NOT_FOUND_ANSWER, ())


async def test_answers_are_deterministic() -> None:
    question = "What medications at discharge?"
    assert await answer(question) == await answer(question)


async def test_the_stream_is_the_text_in_pieces_then_the_draft() -> None:
    model = LocalLanguageModel()
    question = "What medications at discharge and which diagnoses?"
    items = [item async for item in model.stream_answer(question, discharge_passages())]
    *pieces, draft = items
    assert isinstance(draft, Draft)
    assert draft == await model.answer(question, discharge_passages())
    assert len(pieces) > 1
    assert all(isinstance(piece, str) for piece in pieces)
    assert "".join(str(piece) for piece in pieces) == draft.text


def test_question_words_are_stemmed_casefolded_and_stopwords_dropped() -> None:
    assert terms("What Medications were STARTED for the patient\u2019s infections?") == [
        "medication",
        "start",
        "infection",
    ]


@pytest.mark.parametrize(
    "question", ["What will the weather be like tomorrow?", "What is the capital of France?"]
)
async def test_one_shared_word_does_not_answer_an_unrelated_question(question: str) -> None:
    letterhead = "Capital Health Laboratory, clinical chemistry department."
    body = "Specimen received in good condition for analysis."
    reading = PageReading(
        1,
        f"{letterhead}\n{body}",
        (
            Block(BlockKind.FURNITURE, letterhead, (0.0, 0.0, 1.0, 1.0)),
            Block(BlockKind.PARAGRAPH, body, (0.0, 1.0, 1.0, 2.0)),
        ),
        600,
        800,
    )
    passages = [
        Passage(1, "d", "t", 1, reading.text, reading=reading),
        Passage(2, "d", "t", 2, "The patient is to follow up tomorrow to have the Foley removed."),
    ]
    assert await answer(question, passages) == Draft(NOT_FOUND_ANSWER, ())
