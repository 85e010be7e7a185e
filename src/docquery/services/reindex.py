"""Bringing a search index in line with the records and their stored pages.

The records and `pages.json` are the truth; the index is derived from them. A document is
indexed from its stored pages unless its record is gone or failed, or it has no pages yet.
Used by every aws task to build its copy at start and to apply the other tasks' changes,
and by `docquery reindex` on the embedded profile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from docquery.domain.documents import Document, DocumentStatus, ListQuery
from docquery.domain.search import SearchableDocument, searchable
from docquery.errors import DocQueryError, NotFound
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.search import SearchIndex
from docquery.services import artifacts

log = logging.getLogger(__name__)

T = TypeVar("T")
# Documents brought up to date at once.
CONCURRENCY = 8


async def bring_up_to_date(
    index: SearchIndex,
    documents: DocumentStore,
    blobs: BlobStore,
    *,
    owner: str,
    document_id: str,
) -> None:
    """Index what the record and its stored pages say now, whatever changed."""
    try:
        record = await documents.get(owner=owner, document_id=document_id)
        if record.status is DocumentStatus.FAILED:
            raise NotFound("failed documents are not searchable")
        pages = await artifacts.load_pages(blobs, document_id)
    except NotFound:
        await index.remove(document_id)
        return
    await index.replace(searchable(record), pages)


async def rebuild(
    index: SearchIndex,
    documents: DocumentStore,
    blobs: BlobStore,
    *,
    owners: Iterable[str],
    persist: bool = False,
) -> set[str]:
    """Every document of these owners brought up to date; the ids seen. With `persist`, a step
    that fails is retried until it works (a task that cannot search is of no use)."""
    started = time.monotonic()
    step = _retrying if persist else _once
    slots = asyncio.Semaphore(CONCURRENCY)
    seen: set[str] = set()

    async def one(owner: str, document_id: str) -> None:
        async with slots:
            await step(
                lambda: bring_up_to_date(
                    index, documents, blobs, owner=owner, document_id=document_id
                )
            )

    for owner in sorted(set(owners)):
        after: str | None = None
        while True:
            query = ListQuery(owner=owner, limit=100, after=after)
            page = await step(lambda q=query: documents.list_page(q))  # type: ignore[misc]
            await asyncio.gather(*(one(d.owner, d.id) for d in page.items))
            seen.update(d.id for d in page.items)
            if not page.has_more or not page.items:
                break
            after = page.items[-1].sort_key
    # What the index holds beyond those owners' records: brought up to date (re-indexed if its
    # record is there, under an owner not configured now; removed if not).
    for document_id, owner in (await index.indexed_owners()).items():
        if document_id not in seen:
            await step(
                lambda i=document_id, o=owner: bring_up_to_date(  # type: ignore[misc]
                    index, documents, blobs, owner=o, document_id=i
                )
            )
    log.info(
        "search.rebuilt",
        extra={"count": len(seen), "duration_ms": round((time.monotonic() - started) * 1000)},
    )
    return seen


async def reconcile(
    index: SearchIndex, documents: DocumentStore, blobs: BlobStore, *, owners: Iterable[str]
) -> int:
    """Bring the index in line with the records at start, by document: what is indexed as its
    record says now is left alone; the rest is brought up to date (indexed from its stored
    pages, edited, or removed). The number of documents that needed it."""
    started = time.monotonic()
    indexed = await index.indexed_documents()
    slots = asyncio.Semaphore(CONCURRENCY)
    changed = 0

    async def one(owner: str, document_id: str) -> None:
        nonlocal changed
        changed += 1
        async with slots:
            await bring_up_to_date(index, documents, blobs, owner=owner, document_id=document_id)

    seen: set[str] = set()
    for owner in sorted(set(owners) | {d.owner for d in indexed.values()}):
        after: str | None = None
        while True:
            page = await documents.list_page(ListQuery(owner=owner, limit=100, after=after))
            stale = [d for d in page.items if not _in_line(indexed.get(d.id), d)]
            await asyncio.gather(*(one(d.owner, d.id) for d in stale))
            seen.update(d.id for d in page.items)
            if not page.has_more or not page.items:
                break
            after = page.items[-1].sort_key
    await asyncio.gather(*(one(d.owner, i) for i, d in indexed.items() if i not in seen))
    log.info(
        "search.reconciled",
        extra={"count": changed, "duration_ms": round((time.monotonic() - started) * 1000)},
    )
    return changed


def _in_line(indexed: SearchableDocument | None, record: Document) -> bool:
    """Whether the index holds the document as its record says (a failed one: not at all)."""
    if record.status is DocumentStatus.FAILED:
        return indexed is None
    if indexed is None:
        # Not indexed: in line until it has pages to index (processing will index them).
        return record.status is not DocumentStatus.READY
    return indexed == searchable(record)


async def _once(step: Callable[[], Awaitable[T]]) -> T:
    return await step()


async def _retrying(step: Callable[[], Awaitable[T]]) -> T:
    delay = 0.5
    while True:
        try:
            return await step()
        except DocQueryError as exc:
            log.warning("search.rebuild_retry", extra={"code": exc.code})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
