"""The sentence-based summary, for pages known only by their text (no blocks, no structure).

Every statement is a sentence of the document itself, cited with the pages it occurs on.
Sentences are ranked by TF-IDF cosine similarity to the document's centroid (how representative
they are); clinical cue patterns sort them into sections.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from docquery.domain.processing import SUMMARY_SECTIONS, Page, Statement, SummarySection
from docquery.text.sentences import Sentence, split_sentences

# A section takes a sentence when its cues weigh at least this much.
_MIN_CUE_WEIGHT = 2


def extract_sections(pages: Sequence[Page]) -> tuple[SummarySection, ...]:
    """The summary's sections, in SUMMARY_SECTIONS order; empty ones omitted."""
    sentences = split_sentences(pages)
    if not sentences:
        return ()
    scores = _centrality([_terms(sentence.text) for sentence in sentences])
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    per_section = min(6, 2 + int(math.log2(1 + len(pages))))
    chosen: dict[str, list[int]] = {name: [] for name in _CUES}
    for i in ranked:
        name = _section_of(sentences[i])
        if name is not None and len(chosen[name]) < per_section:
            chosen[name].append(i)
    taken = {i for picks in chosen.values() for i in picks}
    overview_size = min(8, 3 + int(math.log2(max(1, len(pages)))))
    overview = [i for i in ranked if i not in taken][:overview_size]
    picks = {"overview": overview, **chosen}
    return tuple(
        SummarySection(name, tuple(_statement(sentences[i]) for i in sorted(picks[name])))
        for name in SUMMARY_SECTIONS
        if picks.get(name)
    )


def _statement(sentence: Sentence) -> Statement:
    return Statement(sentence.text, tuple(sentence.pages))


# Ranking: TF-IDF vectors, cosine similarity to their centroid.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]")
_STOPWORDS = _words(
    "a an and are as at be been but by for from had has have he her his if in into is it its "
    "not of on or our she so than that the their them then there these they this those to was "
    "we were which while who will with would you your i me my no yes do does did can could "
    "should may might also any all some such only over under about after before up down out"
)


def _terms(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.casefold()) if word not in _STOPWORDS]


def _centrality(documents: list[list[str]]) -> list[float]:
    """Cosine similarity of each sentence's TF-IDF vector to the mean vector."""
    frequency = Counter(term for terms in documents for term in set(terms))
    count = len(documents)
    idf = {term: math.log((1 + count) / (1 + df)) + 1.0 for term, df in frequency.items()}
    vectors = [
        _unit({t: (1 + math.log(n)) * idf[t] for t, n in Counter(terms).items()})
        for terms in documents
    ]
    centroid: Counter[str] = Counter()
    for vector in vectors:
        centroid.update(vector)
    norm = math.sqrt(sum(value * value for value in centroid.values())) or 1.0
    return [sum(value * centroid[t] for t, value in vector.items()) / norm for vector in vectors]


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(value * value for value in vector.values()))
    return {term: value / norm for term, value in vector.items()} if norm else {}


# Sections: weighted cue patterns on the sentence, and on the heading above it.

_I = re.IGNORECASE
_DRUG_SUFFIX = (
    r"\b\w{2,}(?:pril|sartan|olol|statin|mab|cillin|mycin|floxacin|azole|prazole|formin|"
    r"gliptin|parin|xaban|gatran|oxetine|azepam|dipine|olone|isone|sone|tidine|triptan)\b"
)
_CUES: dict[str, list[tuple[re.Pattern[str], int]]] = {
    # Dict order is the tie-break: a dose outweighs a diagnosis word in the same sentence.
    "medications": [
        (
            re.compile(r"\b\d+(?:\.\d+)?\s?(?:mg|mcg|µg|μg|g|ml|units?|iu|meq|mmol)\b(?!\s*/)", _I),
            2,
        ),
        (
            re.compile(
                r"\b(?:daily|once|twice|bid|tid|qid|qhs|qd|prn|nightly|at bedtime|"
                r"every \d+ hours|q\d+h|b\.i\.d|t\.i\.d)\b",
                _I,
            ),
            1,
        ),
        (
            re.compile(
                r"\b(?:medications?|meds|prescribed|prescription|tablets?|capsules?|inhaler|"
                r"injections?|dose|dosage|started on|discontinued?|stopped|taper\w*)\b",
                _I,
            ),
            1,
        ),
        (re.compile(_DRUG_SUFFIX, _I), 1),
    ],
    "diagnoses": [
        (re.compile(r"\b(?:diagnos\w*|assessment|differential|impression(?=\s*:))", _I), 2),
        (re.compile(r"\b[A-TV-Z]\d{2}\.\d{1,4}\b"), 2),  # an ICD-10 code
        (
            re.compile(
                r"\b(?:history of|consistent with|suggestive of|suspected|rule out|"
                r"secondary to|acute|chronic)\b",
                _I,
            ),
            1,
        ),
        (
            re.compile(
                r"\b(?:\w{3,}(?:itis|osis|emia|aemia|pathy|oma)|diabetes|hypertension|"
                r"pneumonia|infarction|failure|fracture|cancer|carcinoma|disease|disorder|"
                r"syndrome|infection|insufficiency|stroke|sepsis|copd|asthma|"
                r"fibrillation)\b",
                _I,
            ),
            1,
        ),
    ],
    "follow_up": [
        (
            re.compile(
                r"\b(?:follow(?:ed)?[- ]?up|appointments?|schedul\w*|refer\w*|"
                r"recheck|re-check|reassess\w*)\b",
                _I,
            ),
            2,
        ),
        (
            re.compile(
                r"\b(?:return|repeat|monitor\w*|pending|next visit|emergency department|"
                r"seek (?:medical )?care|in \d+ (?:days?|weeks?|months?))\b",
                _I,
            ),
            1,
        ),
    ],
    "findings": [
        (
            re.compile(
                r"\d(?:\.\d+)?\s?(?:mmol/l|mg/dl|g/dl|g/l|mmhg|bpm|u/l|iu/l|ng/ml|pg/ml|"
                r"%|x\s?10)",
                _I,
            ),
            2,
        ),
        (
            re.compile(
                r"\b(?:results?|showed|shows|revealed|reveals|demonstrated|levels?|elevated|"
                r"decreased|increased|normal|abnormal|unremarkable|negative|positive|"
                r"exam\w*|findings?)\b",
                _I,
            ),
            1,
        ),
        (
            re.compile(
                r"\b(?:ct|mri|x-ray|radiograph|ultrasound|echocardiogram|ecg|ekg|biopsy|"
                r"cultures?|h(?:a)?emoglobin|wbc|platelets|creatinine|glucose|hba1c|troponin|"
                r"sodium|potassium|blood pressure|heart rate|temperature)\b",
                _I,
            ),
            1,
        ),
    ],
}
_HEADING_CUES: dict[str, re.Pattern[str]] = {
    "medications": re.compile(r"medication|\bmeds\b|prescription|drugs", _I),
    "diagnoses": re.compile(r"diagnos|impression|assessment|problem", _I),
    "follow_up": re.compile(r"follow|plan|disposition|instruction|recommendation", _I),
    "findings": re.compile(r"result|finding|\blab|investigation|imaging|exam", _I),
}
# A sentence under a "Medications:" heading belongs there even without a cue of its own.
_HEADING_WEIGHT = 3


def _section_of(sentence: Sentence) -> str | None:
    """The section whose cues weigh most in the sentence (and its heading), if any does."""
    best, best_weight = None, _MIN_CUE_WEIGHT - 1
    for name, cues in _CUES.items():
        weight = sum(value for pattern, value in cues if pattern.search(sentence.text))
        if _HEADING_CUES[name].search(sentence.heading):
            weight += _HEADING_WEIGHT
        if weight > best_weight:
            best, best_weight = name, weight
    return best
