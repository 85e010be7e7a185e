"""Bulk operations: one action on up to 100 documents, with a result for every one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from docquery.domain.documents import DocumentChanges
from docquery.domain.search import searchable
from docquery.domain.uploads import MAX_TAGS, fold_tag, unique_tags
from docquery.errors import DocQueryError, InvalidField, PreconditionFailed
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.search import SearchIndex
from docquery.services import deletes
from docquery.services import documents as single

log = logging.getLogger(__name__)

MAX_BULK_IDS = 100
# Documents worked on at once: bounded so a bulk request cannot starve the store.
_CONCURRENCY = 8
# A tag edit re-reads and retries when the document changed underneath it (e.g. the pipeline).
_EDIT_ATTEMPTS = 3


class BulkAction(StrEnum):
    DELETE = "delete"
    REPROCESS = "reprocess"
    ADD_TAGS = "add_tags"
    REMOVE_TAGS = "remove_tags"


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What happened to one document: ok, or the stable code of the problem it hit."""

    id: str
    code: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is None


async def run_bulk(
    *,
    owner: str,
    action: BulkAction,
    ids: Sequence[str],
    tags: Sequence[str],
    documents: DocumentStore,
    blobs: BlobStore,
    index: SearchIndex,
) -> list[BulkResult]:
    """Apply action to each id (owner-scoped like everything else); never stop at a failure."""
    removed = {fold_tag(tag) for tag in tags}
    operations: dict[BulkAction, Callable[[str], Awaitable[object]]] = {
        BulkAction.DELETE: lambda document_id: deletes.delete_document(
            owner=owner, document_id=document_id, documents=documents, blobs=blobs, index=index
        ),
        BulkAction.REPROCESS: lambda document_id: single.reprocess_document(
            owner=owner, document_id=document_id, documents=documents
        ),
        # Tags match case-insensitively: a tag the document has in another case is not added
        # again, and is removed; the spelling already stored is kept.
        BulkAction.ADD_TAGS: lambda document_id: _edit_tags(
            owner, document_id, documents, index, lambda current: (*current, *tags)
        ),
        BulkAction.REMOVE_TAGS: lambda document_id: _edit_tags(
            owner,
            document_id,
            documents,
            index,
            lambda current: tuple(tag for tag in current if fold_tag(tag) not in removed),
        ),
    }
    operation = operations[action]
    slots = asyncio.Semaphore(_CONCURRENCY)

    async def one(document_id: str) -> BulkResult:
        async with slots:
            try:
                await operation(document_id)
            except DocQueryError as exc:
                detail = exc.detail if exc.status < 500 else exc.title
                return BulkResult(document_id, code=exc.code, detail=detail)
        return BulkResult(document_id)

    results = await asyncio.gather(*(one(document_id) for document_id in ids))
    failed = sum(not result.ok for result in results)
    log.info("documents.bulk", extra={"action": action.value, "count": len(ids), "failed": failed})
    return list(results)


async def _edit_tags(
    owner: str,
    document_id: str,
    documents: DocumentStore,
    index: SearchIndex,
    edit: Callable[[tuple[str, ...]], tuple[str, ...]],
) -> None:
    for attempt in range(_EDIT_ATTEMPTS):
        current = await documents.get(owner=owner, document_id=document_id)
        tags = unique_tags(edit(current.tags))
        if len(tags) > MAX_TAGS:
            raise InvalidField(f"a document may have at most {MAX_TAGS} tags")
        try:
            updated = await documents.update(
                owner=owner,
                document_id=document_id,
                changes=DocumentChanges(tags=tags),
                expected_version=current.version,
            )
        except PreconditionFailed:
            if attempt == _EDIT_ATTEMPTS - 1:
                raise
        else:
            await index.update_document(searchable(updated))
            return
