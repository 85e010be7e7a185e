"""Document use cases other than upload: list, read, edit, download, delete."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from docquery.domain.documents import (
    Document,
    DocumentChanges,
    DocumentStatus,
    ListQuery,
    format_timestamp,
    utcnow,
)
from docquery.domain.processing import Summary, SummaryStatus
from docquery.domain.reading import PageReading
from docquery.domain.search import searchable
from docquery.errors import NotReady, PreconditionFailed
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.search import SearchIndex
from docquery.services import artifacts
from docquery.services.cursors import CursorCodec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListFilters:
    status: DocumentStatus | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def scope(self) -> str:
        """A stable text of the filters, so a cursor only works with the query it came from."""
        parts = (
            self.status.value if self.status else "",
            self.tag or "",
            format_timestamp(self.created_after) if self.created_after else "",
            format_timestamp(self.created_before) if self.created_before else "",
        )
        return "\x1f".join(parts)


@dataclass(frozen=True, slots=True)
class DocumentList:
    items: list[Document]
    next_cursor: str | None


async def list_documents(
    *,
    owner: str,
    limit: int,
    cursor: str | None,
    filters: ListFilters,
    documents: DocumentStore,
    cursors: CursorCodec,
) -> DocumentList:
    """One page of the owner's documents, newest first."""
    scope = filters.scope()
    after = cursors.decode(cursor, owner=owner, scope=scope) if cursor else None
    page = await documents.list_page(
        ListQuery(
            owner=owner,
            limit=limit,
            after=after,
            status=filters.status,
            tag=filters.tag,
            created_after=filters.created_after,
            created_before=filters.created_before,
        )
    )
    next_cursor = (
        cursors.encode(owner=owner, scope=scope, position=page.items[-1].sort_key)
        if page.has_more and page.items
        else None
    )
    return DocumentList(items=page.items, next_cursor=next_cursor)


async def get_document(*, owner: str, document_id: str, documents: DocumentStore) -> Document:
    """The owner's document, or NotFound."""
    return await documents.get(owner=owner, document_id=document_id)


async def update_document(
    *,
    owner: str,
    document_id: str,
    changes: DocumentChanges,
    if_match: list[str] | None,
    documents: DocumentStore,
    index: SearchIndex,
) -> Document:
    """Edit title and tags; with If-Match, only if the document has not changed since."""
    expected: int | None = None
    if if_match is not None and "*" not in if_match:
        current = await documents.get(owner=owner, document_id=document_id)
        if current.etag not in if_match:
            raise PreconditionFailed("the document changed since that ETag was issued")
        expected = current.version
    updated = await documents.update(
        owner=owner, document_id=document_id, changes=changes, expected_version=expected
    )
    await index.update_document(searchable(updated))
    log.info("document.updated", extra={"document_id": document_id})
    return updated


async def open_content(*, document: Document, blobs: BlobStore) -> AsyncIterator[bytes]:
    """A stream of the document's original bytes."""
    chunks = blobs.read(document.blob_key)
    # Read the first chunk now, so a missing blob is an error before the response starts.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    return _prepend(first, chunks)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def presigned_content_url(
    *, document: Document, disposition: str, expires_in: int, blobs: BlobStore
) -> str | None:
    """A short-lived direct download URL, when the blob store has them."""
    return await blobs.presigned_download_url(
        document.blob_key, filename_header=disposition, expires_in=expires_in
    )


@dataclass(frozen=True, slots=True)
class PageRange:
    pages: list[PageReading]
    page_count: int
    next_page: int | None


async def document_text(
    *,
    owner: str,
    document_id: str,
    first_page: int,
    limit: int,
    documents: DocumentStore,
    blobs: BlobStore,
) -> PageRange:
    """The readings of up to `limit` pages from `first_page`; NotReady before extraction."""
    document = await documents.get(owner=owner, document_id=document_id)
    if document.status is not DocumentStatus.READY:
        raise NotReady(f"the document's text is not available while it is {document.status}")
    pages = await artifacts.load_reading(blobs, document.id)
    selected = [page for page in pages if first_page <= page.number < first_page + limit]
    last = first_page + limit - 1
    return PageRange(
        pages=selected,
        page_count=len(pages),
        next_page=last + 1 if last < len(pages) else None,
    )


async def document_summary(
    *, owner: str, document_id: str, documents: DocumentStore, blobs: BlobStore
) -> Summary:
    """The document's clinical summary; NotReady while it is pending, failed or disabled."""
    document = await documents.get(owner=owner, document_id=document_id)
    if document.summary_status is not SummaryStatus.READY:
        failure = document.summary_failure
        raise NotReady(
            f"the summary is {document.summary_status}",
            summary_status=document.summary_status.value,
            **({"failure_code": failure.code.value} if failure else {}),
        )
    return await artifacts.load_summary(blobs, document.id)


async def reprocess_document(*, owner: str, document_id: str, documents: DocumentStore) -> Document:
    """Queue the document to be extracted and summarised again from scratch."""
    document = await documents.requeue(owner=owner, document_id=document_id, now=utcnow())
    log.info("document.reprocess_queued", extra={"document_id": document.id})
    return document
