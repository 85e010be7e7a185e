"""Ask: retrieve the best pages for a question, have the model answer, verify its citations."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, replace

from docquery.domain.reading import PageReading
from docquery.domain.search import Answer, Draft, Passage, SearchFilters, SearchQuery
from docquery.errors import AnswersDisabled, NotFound, StorageError
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.language_model import LanguageModel
from docquery.ports.search import SearchIndex
from docquery.services import artifacts
from docquery.services.citations import verify
from docquery.services.search import check_filters, current_pages
from docquery.services.search_query import parse_query
from docquery.text.answers import NOT_FOUND_ANSWER
from docquery.text.clinical_terms import expand
from docquery.text.markdown import page_markdown
from docquery.text.patients import asked_patient, is_patient, stated_patient
from docquery.text.query import MAX_QUERY_CHARS

log = logging.getLogger(__name__)

MAX_TOP_K = 20
DEFAULT_TOP_K = 5
# A question naming a patient is searched this many times deeper, then kept to that patient.
PATIENT_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    filters: SearchFilters
    top_k: int = DEFAULT_TOP_K


@dataclass(frozen=True, slots=True)
class Sources:
    """The passages a question is answered from, and the stored text of their pages."""

    passages: list[Passage]
    page_texts: dict[tuple[str, int], str]


async def retrieve(
    *,
    owner: str,
    question: Question,
    index: SearchIndex,
    documents: DocumentStore,
    blobs: BlobStore | None = None,
) -> Sources:
    """The owner's `top_k` best pages for the question, numbered from 1 in rank order.

    With `blobs`, each passage carries its page's reading, Markdown and stated patient; a
    question that names a patient keeps only pages of documents about that patient.
    """
    check_filters(question.filters)
    asked = asked_patient(question.text)
    query = SearchQuery(
        owner=owner,
        # Searched with the synonyms of the clinical terms it names: "Hb" finds "haemoglobin".
        terms=parse_query(_searched(question.text)),
        filters=question.filters,
        limit=question.top_k * (PATIENT_DEPTH if asked else 1),
    )
    hits = await current_pages((await index.search(query)).hits, owner, index, documents)
    texts = await index.page_texts([(hit.document_id, hit.page) for hit in hits])
    passages = [
        Passage(
            number=number,
            document_id=hit.document_id,
            title=hit.title,
            page=hit.page,
            text=texts[(hit.document_id, hit.page)],
        )
        for number, hit in enumerate(
            (hit for hit in hits if (hit.document_id, hit.page) in texts), start=1
        )
    ]
    if blobs is not None:
        passages = await with_markdown(blobs, passages)
    if asked:
        passages = _about(asked, passages, question.top_k)
    return Sources(passages=passages, page_texts=texts)


def _searched(question: str) -> str:
    """The question with its clinical terms' synonyms, unless that makes it too long."""
    expanded = expand(question)
    return expanded if len(expanded) <= MAX_QUERY_CHARS else question


def _about(asked: frozenset[str], passages: list[Passage], top_k: int) -> list[Passage]:
    """The passages of documents whose stated patient is the asked one, renumbered from 1."""
    kept = [p for p in passages if is_patient(p.patient or stated_patient([p.text]), asked)]
    return [replace(p, number=n) for n, p in enumerate(kept[:top_k], start=1)]


async def with_markdown(blobs: BlobStore, passages: list[Passage]) -> list[Passage]:
    """The passages with their pages' readings and Markdown, and their documents' patients;
    a page without a stored reading keeps its text."""
    ids = sorted({passage.document_id for passage in passages})
    readings = dict(zip(ids, await asyncio.gather(*(_reading(blobs, i) for i in ids)), strict=True))
    patients = {i: stated_patient(page.text for page in readings[i][:2]) for i in ids}
    return [
        replace(
            passage,
            markdown=_markdown(readings[passage.document_id], passage.page),
            reading=_page(readings[passage.document_id], passage.page),
            patient=patients[passage.document_id],
        )
        for passage in passages
    ]


async def _reading(blobs: BlobStore, document_id: str) -> list[PageReading]:
    try:
        return await artifacts.load_reading(blobs, document_id)
    except (NotFound, StorageError):
        # Deleted since it was found, or unreadable: the model is sent the indexed text.
        log.warning("ask.reading_unavailable", extra={"document_id": document_id})
        return []


def _markdown(pages: Iterable[PageReading], number: int) -> str:
    return next((page_markdown(page) for page in pages if page.number == number), "")


def _page(pages: Iterable[PageReading], number: int) -> PageReading | None:
    return next((page for page in pages if page.number == number), None)


async def ask(
    *,
    owner: str,
    question: Question,
    index: SearchIndex,
    documents: DocumentStore,
    model: LanguageModel | None,
    blobs: BlobStore | None = None,
) -> Answer:
    """An answer whose every citation was found in the stored text of the page it names."""
    started = time.monotonic()
    model = _require(model)
    sources = await retrieve(
        owner=owner, question=question, index=index, documents=documents, blobs=blobs
    )
    if not sources.passages:
        answer = Answer(text=NOT_FOUND_ANSWER, citations=(), grounded=False)
    else:
        draft = await model.answer(question.text, sources.passages)
        answer = verify(draft, sources.passages, sources.page_texts)
    _log_answer(answer, sources, started)
    return answer


async def ask_streaming(
    *,
    owner: str,
    question: Question,
    index: SearchIndex,
    documents: DocumentStore,
    model: LanguageModel | None,
    blobs: BlobStore | None = None,
) -> AsyncGenerator[str | Answer]:
    """The answer's text as the model writes it, then the verified Answer as the last item.

    The verified answer is final: citations the stored text does not bear out are gone from
    it, and an answer left with none is replaced by the not-found message.
    """
    started = time.monotonic()
    model = _require(model)
    sources = await retrieve(
        owner=owner, question=question, index=index, documents=documents, blobs=blobs
    )
    return _stream(model, question.text, sources, started)


async def _stream(
    model: LanguageModel, question: str, sources: Sources, started: float
) -> AsyncGenerator[str | Answer]:
    if not sources.passages:
        answer = Answer(text=NOT_FOUND_ANSWER, citations=(), grounded=False)
    else:
        draft: Draft | None = None
        # Closed however the stream ends, so a client that leaves early frees the model's
        # connection and concurrency slot at once.
        async with aclosing(model.stream_answer(question, sources.passages)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Draft):
                    draft = piece
                else:
                    yield piece
        if draft is None:
            raise AssertionError("a model stream ends with its Draft")
        answer = verify(draft, sources.passages, sources.page_texts)
    _log_answer(answer, sources, started)
    yield answer


def _require(model: LanguageModel | None) -> LanguageModel:
    if model is None:
        raise AnswersDisabled("answers need a language model (DOCQUERY_LANGUAGE_MODEL is disabled)")
    return model


def _log_answer(answer: Answer, sources: Sources, started: float) -> None:
    # Counts and timings only: the question, passages and answer hold patient data.
    log.info(
        "ask.answered",
        extra={
            "count": len(sources.passages),
            "citations": len(answer.citations),
            "grounded": answer.grounded,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
