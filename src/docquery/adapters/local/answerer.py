"""Extractive answers: the passages' sentences that share the most with the question, quoted.

Deterministic and offline. A sentence scores the IDF weights of the question's content words it
contains (weights taken over the passages' sentences, so a word every sentence has counts for
little), and half that for words only its heading has ("Discharge medications:" above a list
of drugs). Each picked sentence is its own citation, quoted verbatim from the passage text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from docquery.adapters.local.answer_clinical import structured_answer
from docquery.domain.search import Draft, DraftCitation, Passage
from docquery.text.answers import NOT_FOUND_ANSWER
from docquery.text.sentences import normalise

MAX_SENTENCES = 3
# A sentence is picked only if it scores at least this share of the best sentence's score.
MIN_RELATIVE_SCORE = 0.5
# A question word in the heading above a sentence counts this much of one in the sentence.
HEADING_WEIGHT = 0.5
# The best sentence must hold this share of the question's content words, or nothing answers
# it: "What is the capital of France?" is not answered from a lab report.
MIN_COVERAGE = 0.4
_MAX_HEADING_CHARS = 60
_MIN_CHARS, _MAX_CHARS = 12, 600
_WORDS_PER_PIECE = 8

# Ends of sentences, blank lines, lines ending in a colon, and line breaks before list items.
_BREAK = re.compile(
    r"(?<=[.!?])[\"')\]\u201d\u2019]*\s+(?=[\"'(\[\u201c\u2018]?[A-Z0-9])"
    r"|\n[ \t]*\n\s*"
    r"|(?<=:)[ \t]*\n\s*"
    r"|\n\s*(?=(?:[-*\u2022\u25aa\u2013]|\(?\d{1,2}[.)])\s)"
)
_BULLET = re.compile(r"^(?:[-*\u2022\u25aa\u2013]|\(?\d{1,2}[.)])\s+")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Prof|St|vs|approx|e\.g|i\.e|No|Fig)\.$")
_WORD = re.compile(r"[^\W_][\w'\u2019-]*[^\W_]|[^\W\d_]")
_POSSESSIVE = re.compile(r"['\u2019]s$")
_STOPWORDS = frozenset(
    str.split(
        "a an and are as at be been but by for from had has have he her his if in into is it its "
        "not of on or our she so than that the their them then there these they this those to was "
        "we were which while who whom whose will with would you your i me my no yes do does did "
        "can could should may might also any all some such only over under about after before up "
        "down out what when where why how much many patient patients"
    )
)


@dataclass(frozen=True, slots=True)
class _Sentence:
    """A sentence of a passage: its source number, its text as written (the quote), the text
    as the answer shows it, its content words and those of the heading above it."""

    source: int
    quote: str
    display: str
    terms: frozenset[str]
    heading: frozenset[str]

    def score(self, asked: frozenset[str], idf: dict[str, float]) -> float:
        own = self.terms & asked
        from_heading = (self.heading & asked) - own
        return sum(idf[t] for t in own) + HEADING_WEIGHT * sum(idf[t] for t in from_heading)


def extract_answer(question: str, passages: Sequence[Passage]) -> Draft:
    """The structured answer for a clinical question (a lab value, medications, flagged results,
    a section); else up to MAX_SENTENCES best sentences, each with its [n]; NOT_FOUND_ANSWER if
    nothing answers it."""
    structured = structured_answer(question, passages)
    if structured is not None and structured.citations:
        return structured
    return _sentence_answer(question, passages)


def _sentence_answer(question: str, passages: Sequence[Passage]) -> Draft:
    asked = frozenset(terms(question))
    sentences = _distinct(s for p in sorted(passages, key=lambda p: p.number) for s in _split(p))
    idf = _idf(sentences)
    scored = [(s.score(asked, idf), s) for s in sentences]
    picked = _pick([(score, s) for score, s in scored if score > 0 and _covers(s, asked)])
    if not picked:
        return Draft(NOT_FOUND_ANSWER, ())
    text = " ".join(f"{s.display} [{s.source}]" for s in picked)
    return Draft(text, tuple(DraftCitation(s.source, s.quote) for s in picked))


def _covers(sentence: _Sentence, asked: frozenset[str]) -> bool:
    """Whether the sentence (with its heading) holds enough of the question's words."""
    shared = len((sentence.terms | sentence.heading) & asked)
    return bool(asked) and shared >= MIN_COVERAGE * len(asked)


def text_pieces(text: str) -> Iterator[str]:
    """The text in pieces of a few words, as a model would stream it; they join to the text."""
    words = re.findall(r"\s*\S+", text)
    for start in range(0, len(words), _WORDS_PER_PIECE):
        yield "".join(words[start : start + _WORDS_PER_PIECE])


def terms(text: str) -> list[str]:
    """Content words, casefolded and lightly stemmed, stopwords left out."""
    words = (_POSSESSIVE.sub("", word) for word in _WORD.findall(text.casefold()))
    return [_stem(word) for word in words if word not in _STOPWORDS]


def _stem(word: str) -> str:
    """Plurals and -ing/-ed endings off, so "medications" meets "medication"."""
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def _split(passage: Passage) -> Iterator[_Sentence]:
    """The passage's usable sentences, each a substring of its text (whitespace collapsed)."""
    heading: frozenset[str] = frozenset()
    furniture = _furniture(passage)
    for raw in _raw_sentences(passage.text):
        unbulleted = _BULLET.sub("", raw.strip(), count=1)
        quote = " ".join(unbulleted.split())
        if _is_furniture(quote, furniture):
            continue  # a letterhead, banner or footer answers no question
        if quote.endswith(":") and len(quote) <= _MAX_HEADING_CHARS:
            heading = frozenset(terms(quote))
        elif _usable(quote):
            # normalise joins words broken over lines: "nega-\ntive" is shown as "negative".
            display = " ".join(normalise(unbulleted).split())
            yield _Sentence(passage.number, quote, display, frozenset(terms(display)), heading)


def _furniture(passage: Passage) -> list[str]:
    """The page's furniture lines (headers, banners, footers), as the reading found them."""
    if passage.reading is None:
        return []
    return [" ".join(b.text.split()) for b in passage.reading.blocks if not b.is_content]


def _is_furniture(quote: str, furniture: list[str]) -> bool:
    return any(quote in line or (len(line) >= _MIN_CHARS and line in quote) for line in furniture)


def _usable(quote: str) -> bool:
    """Long enough to say something; a two-word label ("Hospital course") is not a sentence."""
    words = len(quote.split())
    if not _MIN_CHARS <= len(quote) <= _MAX_CHARS or words < 2:
        return False
    return words > 2 or quote.endswith((".", "!", "?"))


def _raw_sentences(text: str) -> Iterator[str]:
    start = 0
    for match in _BREAK.finditer(text):
        if _ABBREVIATION.search(text[start : match.start()]):
            continue  # "Dr. Smith": a full stop that ends no sentence
        yield text[start : match.start()]
        start = match.end()
    yield text[start:]


def _distinct(sentences: Iterator[_Sentence]) -> list[_Sentence]:
    """One of each sentence, the first (best-ranked source) kept: repeats add no support."""
    seen: dict[str, _Sentence] = {}
    for sentence in sentences:
        seen.setdefault(sentence.quote.casefold(), sentence)
    return list(seen.values())


def _idf(sentences: Sequence[_Sentence]) -> dict[str, float]:
    frequency = Counter(term for s in sentences for term in s.terms | s.heading)
    count = len(sentences)
    return {term: math.log(1 + count / df) for term, df in frequency.items()}


def _pick(scored: list[tuple[float, _Sentence]]) -> list[_Sentence]:
    """The best sentences in score order; on a tie, one from a source not picked yet."""
    if not scored:
        return []
    floor = MIN_RELATIVE_SCORE * max(score for score, _ in scored)
    remaining = [(score, s) for score, s in scored if score >= floor]
    picked: list[_Sentence] = []
    while remaining and len(picked) < MAX_SENTENCES:
        used = {s.source for s in picked}
        best = min(remaining, key=lambda item: (-round(item[0], 9), item[1].source in used))
        remaining.remove(best)
        picked.append(best[1])
    return picked
