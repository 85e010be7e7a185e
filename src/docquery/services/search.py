"""Search: the owner's pages (or documents) that best match a query, with signed cursors."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from docquery.domain.documents import format_timestamp
from docquery.domain.search import (
    DocumentHit,
    PageHit,
    SearchFilters,
    SearchQuery,
    SearchTerms,
)
from docquery.errors import InvalidRequest
from docquery.ports import DocumentStore
from docquery.ports.search import SearchIndex
from docquery.services.cursors import CursorCodec
from docquery.services.search_query import parse_query

log = logging.getLogger(__name__)

MAX_LIMIT = 50
# Ranked results are paged by offset; nobody reads past the thousandth hit of a search.
MAX_RESULTS = 1000
PAGES_PER_DOCUMENT = 3
MAX_FILTER_IDS = 100
MAX_FILTER_TAGS = 20


class Grouping(StrEnum):
    PAGE = "page"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str
    filters: SearchFilters
    limit: int = 10
    cursor: str | None = None
    group: Grouping = Grouping.PAGE


@dataclass(frozen=True, slots=True)
class SearchResults:
    hits: Sequence[PageHit | DocumentHit]
    next_cursor: str | None


async def search(
    *,
    owner: str,
    request: SearchRequest,
    index: SearchIndex,
    documents: DocumentStore,
    cursors: CursorCodec,
) -> SearchResults:
    """One page of results; hits of documents deleted meanwhile are never shown."""
    started = time.monotonic()
    terms = parse_query(request.q)
    check_filters(request.filters)
    scope = _scope(terms, request)
    offset = int(cursors.decode(request.cursor, owner=owner, scope=scope)) if request.cursor else 0
    query = SearchQuery(
        owner=owner, terms=terms, filters=request.filters, limit=request.limit, offset=offset
    )
    hits: Sequence[PageHit | DocumentHit]
    if request.group is Grouping.DOCUMENT:
        grouped = await index.search_documents(query, pages_per_document=PAGES_PER_DOCUMENT)
        hits, has_more = (
            await current_documents(grouped.hits, owner, index, documents),
            grouped.has_more,
        )
    else:
        pages = await index.search(query)
        hits, has_more = await current_pages(pages.hits, owner, index, documents), pages.has_more
    next_offset = offset + request.limit
    next_cursor = (
        cursors.encode(owner=owner, scope=scope, position=str(next_offset))
        if has_more and next_offset < MAX_RESULTS
        else None
    )
    log.info(
        "search.done",
        extra={
            "count": len(hits),
            "clauses": len(terms.include) + len(terms.exclude),
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return SearchResults(hits=hits, next_cursor=next_cursor)


def check_filters(filters: SearchFilters) -> None:
    if filters.document_ids is not None and len(filters.document_ids) > MAX_FILTER_IDS:
        raise InvalidRequest(f"at most {MAX_FILTER_IDS} document_ids")
    if filters.tags is not None and len(filters.tags) > MAX_FILTER_TAGS:
        raise InvalidRequest(f"at most {MAX_FILTER_TAGS} tags")
    after, before = filters.created_after, filters.created_before
    if after is not None and before is not None and after >= before:
        raise InvalidRequest("created_after must be before created_before")


async def current_pages(
    hits: Sequence[PageHit], owner: str, index: SearchIndex, documents: DocumentStore
) -> list[PageHit]:
    """The hits whose documents still exist, titled as their records are now."""
    titles = await _current_titles([hit.document_id for hit in hits], owner, index, documents)
    return [
        replace(hit, title=titles[hit.document_id]) for hit in hits if hit.document_id in titles
    ]


async def current_documents(
    hits: Sequence[DocumentHit], owner: str, index: SearchIndex, documents: DocumentStore
) -> list[DocumentHit]:
    titles = await _current_titles([hit.document_id for hit in hits], owner, index, documents)
    return [
        DocumentHit(
            document_id=hit.document_id,
            title=titles[hit.document_id],
            pages=[replace(page, title=titles[hit.document_id]) for page in hit.pages],
        )
        for hit in hits
        if hit.document_id in titles
    ]


async def _current_titles(
    document_ids: Sequence[str], owner: str, index: SearchIndex, documents: DocumentStore
) -> dict[str, str]:
    """Titles of the documents that still exist. The record is the source of truth: a document
    deleted after it was indexed (a delete racing its processing, or a replica's index that has
    not caught up) is dropped here and from the index."""
    ids = list(dict.fromkeys(document_ids))
    if not ids:
        return {}
    records = await documents.get_many(owner=owner, document_ids=ids)
    for missing in set(ids) - set(records):
        await index.remove(missing)
        log.info("search.stale_hit_removed", extra={"document_id": missing})
    return {document_id: record.title for document_id, record in records.items()}


def _scope(terms: SearchTerms, request: SearchRequest) -> str:
    """Everything a cursor's offset depends on: the same query, filters and grouping."""
    filters = request.filters
    parts = (
        terms.canonical(),
        request.group.value,
        ",".join(filters.document_ids) if filters.document_ids is not None else "*",
        ",".join(sorted(filters.tags)) if filters.tags else "",
        format_timestamp(filters.created_after) if filters.created_after else "",
        format_timestamp(filters.created_before) if filters.created_before else "",
    )
    return "search\x1f" + "\x1f".join(parts)
