"""/v1/search and /v1/query: find pages, and answer questions with verified citations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

from docquery.api.bounds import MAX_CURSOR_LENGTH, DocumentIdIn, TagIn
from docquery.api.deps import PrincipalDep, ServicesDep
from docquery.api.problems import error_body, problem_responses
from docquery.api.schemas import (
    CREATED_AFTER_HELP,
    CREATED_BEFORE_HELP,
    AwareMoment,
    Moment,
    require_time_zones,
)
from docquery.domain.reading import PageSource
from docquery.domain.search import Answer, DocumentHit, PageHit, SearchFilters
from docquery.domain.uploads import clean_text
from docquery.errors import DocQueryError
from docquery.services import ask as ask_service
from docquery.services import search as search_service
from docquery.services.search import MAX_FILTER_IDS, MAX_FILTER_TAGS, MAX_LIMIT, Grouping
from docquery.services.search_query import MAX_QUERY_CHARS
from docquery.wiring import Services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["search"])

EVENT_STREAM = "text/event-stream"
QUERY_HELP = (
    'Words are ranked by BM25 and any of them may match; "quoted phrases" match in order; '
    '-word or -"a phrase" excludes pages containing it. English stemming: `fractures` finds '
    "`fracture`. Anything else typed is treated as text, never as an operator."
)


class PageHitOut(BaseModel):
    page: int = Field(description="Page number, from 1")
    snippet: str = Field(description="HTML-safe text around the match; terms in <mark>")
    score: float = Field(description="BM25 relevance; higher is better")


class SearchHitOut(BaseModel):
    document_id: str
    title: str
    page: int = Field(description="The matching page (with group=document: the best one)")
    snippet: str = Field(description="HTML-safe text around the match; terms in <mark>")
    score: float = Field(description="BM25 relevance; higher is better")
    pages: list[PageHitOut] | None = Field(
        None, description="With group=document: the document's best pages, best first"
    )

    @classmethod
    def of(cls, hit: PageHit | DocumentHit) -> SearchHitOut:
        if isinstance(hit, PageHit):
            return cls(
                document_id=hit.document_id,
                title=hit.title,
                page=hit.page,
                snippet=hit.snippet,
                score=hit.score,
            )
        best = hit.pages[0]
        return cls(
            document_id=hit.document_id,
            title=hit.title,
            page=best.page,
            snippet=best.snippet,
            score=best.score,
            pages=[PageHitOut(page=p.page, snippet=p.snippet, score=p.score) for p in hit.pages],
        )


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for more; null at the end")


class SearchFiltersIn(BaseModel):
    document_ids: list[DocumentIdIn] | None = Field(
        None, max_length=MAX_FILTER_IDS, description="Only these documents"
    )
    tags: list[TagIn] | None = Field(
        None, max_length=MAX_FILTER_TAGS, description="Only documents carrying every one of these"
    )

    def filters(self) -> SearchFilters:
        tags = [clean_text(tag) for tag in self.tags or ()]
        return SearchFilters(
            document_ids=tuple(dict.fromkeys(self.document_ids))
            if self.document_ids is not None
            else None,
            tags=tuple(tag for tag in dict.fromkeys(tags) if tag) or None,
        )


class SearchIn(SearchFiltersIn):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description=QUERY_HELP)
    created_after: AwareMoment | None = Field(None, description=CREATED_AFTER_HELP)
    created_before: AwareMoment | None = Field(None, description=CREATED_BEFORE_HELP)
    limit: int = Field(10, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=MAX_CURSOR_LENGTH)
    group: Grouping = Field(
        Grouping.PAGE, description="page: pages; document: best pages per document"
    )

    def filters(self) -> SearchFilters:
        return replace(
            super().filters(),
            created_after=self.created_after,
            created_before=self.created_before,
        )


class QueryIn(SearchFiltersIn):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(
        ask_service.DEFAULT_TOP_K,
        ge=1,
        le=ask_service.MAX_TOP_K,
        description="How many of the best-matching pages the answer is drawn from",
    )


class CitationOut(BaseModel):
    source: int = Field(description="The number the answer's [n] markers use")
    document_id: str
    title: str
    page: int
    quote: str = Field(description="Verbatim text of that page (whitespace normalised)")
    read_by: PageSource = Field(
        description="How that page was read: `text_layer`, or `ocr` for a scanned page, whose "
        "quoted numbers should be checked against the original (OCR can misread a character)"
    )
    ocr_confidence: float | None = Field(
        description="For a page read by OCR, the OCR's mean confidence (0 to 1); else null"
    )


class AnswerOut(BaseModel):
    answer: str = Field(description="The answer; [n] marks the citation with source n")
    citations: list[CitationOut]
    grounded: bool = Field(
        description="True if at least one citation was verified in the stored page text"
    )

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls(
            answer=answer.text,
            grounded=answer.grounded,
            citations=[
                CitationOut(
                    source=c.source,
                    document_id=c.document_id,
                    title=c.title,
                    page=c.page,
                    quote=c.quote,
                    read_by=c.read_by,
                    ocr_confidence=c.ocr_confidence,
                )
                for c in answer.citations
            ],
        )


@router.get(
    "/search",
    response_model=SearchOut,
    summary="Search the text of your documents",
    description=QUERY_HELP,
    responses=problem_responses(400, 401, 422),
)
async def search_get(
    principal: PrincipalDep,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description=QUERY_HELP)],
    document_ids: Annotated[list[DocumentIdIn] | None, Query(max_length=MAX_FILTER_IDS)] = None,
    tags: Annotated[list[TagIn] | None, Query(max_length=MAX_FILTER_TAGS)] = None,
    created_after: Annotated[Moment | None, Query(description=CREATED_AFTER_HELP)] = None,
    created_before: Annotated[Moment | None, Query(description=CREATED_BEFORE_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    group: Grouping = Grouping.PAGE,
) -> SearchOut:
    require_time_zones(created_after, created_before)
    body = SearchIn(
        q=q,
        document_ids=document_ids,
        tags=tags,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
        group=group,
    )
    return await _search(body, principal.owner, services)


@router.post(
    "/search",
    response_model=SearchOut,
    summary="Search with a JSON body (long queries, many filters)",
    description=QUERY_HELP,
    responses=problem_responses(400, 401, 422),
)
async def search_post(body: SearchIn, principal: PrincipalDep, services: ServicesDep) -> SearchOut:
    return await _search(body, principal.owner, services)


async def _search(body: SearchIn, owner: str, services: Services) -> SearchOut:
    results = await search_service.search(
        owner=owner,
        request=search_service.SearchRequest(
            q=body.q,
            filters=body.filters(),
            limit=body.limit,
            cursor=body.cursor,
            group=body.group,
        ),
        index=services.search_index,
        documents=services.documents,
        cursors=services.cursors,
    )
    return SearchOut(
        hits=[SearchHitOut.of(hit) for hit in results.hits], next_cursor=results.next_cursor
    )


@router.post(
    "/query",
    response_model=AnswerOut,
    summary="Ask a question; get an answer with verified citations",
    description=(
        "Retrieves your best-matching pages, has the language model answer from them only, "
        "then checks every citation: its quote must occur in the stored text of the page it "
        "names. Unverifiable citations are dropped; an answer left with none says it found no "
        "support and has `grounded: false`. With `Accept: text/event-stream` the answer "
        "streams as server-sent events: `delta` events carry text as it is written, then one "
        "`answer` event carries the final, verified answer (use its text: markers of dropped "
        "citations are removed from it), or an `error` event carries a problem."
    ),
    responses={
        200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}},
        **problem_responses(401, 422, 503),
    },
)
async def query(
    body: QueryIn, principal: PrincipalDep, services: ServicesDep, request: Request
) -> Response | AnswerOut:
    question = ask_service.Question(text=body.question, filters=body.filters(), top_k=body.top_k)
    if EVENT_STREAM in request.headers.get("accept", ""):
        stream = await ask_service.ask_streaming(
            owner=principal.owner,
            question=question,
            index=services.search_index,
            documents=services.documents,
            model=services.language_model,
            blobs=services.blobs,
        )
        # The first piece is awaited here, so a model that fails at once is a plain problem.
        first = await anext(stream)
        return StreamingResponse(
            _events(first, stream),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    answer = await ask_service.ask(
        owner=principal.owner,
        question=question,
        index=services.search_index,
        documents=services.documents,
        model=services.language_model,
        blobs=services.blobs,
    )
    return AnswerOut.of(answer)


async def _events(first: str | Answer, rest: AsyncGenerator[str | Answer]) -> AsyncIterator[str]:
    piece = first
    try:
        while True:
            if isinstance(piece, Answer):
                yield _event("answer", AnswerOut.of(piece).model_dump())
                return
            yield _event("delta", {"text": piece})
            piece = await anext(rest)
    except DocQueryError as exc:
        log.warning("ask.stream_failed", extra={"code": exc.code, "status": exc.status})
        yield _event("error", error_body(exc))
    finally:
        await rest.aclose()


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
