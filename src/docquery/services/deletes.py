"""Crash-safe deletes: mark the record, remove the derived data and the bytes, then the record.

The mark hides the document from every read at once, so a document is whole or gone whatever
happens after it; every later step is idempotent, and the sweeper finishes what a crash or an
outage interrupted (and removes the reservations of uploads that never completed).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from docquery.domain.documents import Document, WorkState, document_prefix, utcnow
from docquery.errors import DocQueryError, NotFound
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.search import SearchIndex

log = logging.getLogger(__name__)


async def delete_document(
    *,
    owner: str,
    document_id: str,
    documents: DocumentStore,
    blobs: BlobStore,
    index: SearchIndex,
) -> None:
    """Hide the document (of racing deletes one wins, the rest get NotFound), then remove it."""
    document = await documents.mark_deleting(owner=owner, document_id=document_id, now=utcnow())
    log.info("document.deleted", extra={"document_id": document.id})
    try:
        await finish_delete(document, documents=documents, blobs=blobs, index=index)
    except (DocQueryError, OSError) as exc:
        # Deleted for every reader already; the sweeper removes the rest when the store is back.
        log.warning(
            "document.delete_deferred",
            extra={"document_id": document.id, "error_type": type(exc).__name__},
        )


async def finish_delete(
    document: Document, *, documents: DocumentStore, blobs: BlobStore, index: SearchIndex
) -> None:
    """Remove a hidden document's indexed pages, every blob of it, then its record."""
    await index.remove(document.id)
    await blobs.delete_prefix(document_prefix(document.id))
    # A racing finisher (the sweeper, another replica) may have removed it first.
    with contextlib.suppress(NotFound):
        await documents.delete(owner=document.owner, document_id=document.id)


async def sweep_hidden(
    *,
    now: datetime,
    limit: int,
    documents: DocumentStore,
    blobs: BlobStore,
    index: SearchIndex,
) -> int:
    """Finish the deletes due by `now` and remove overdue upload reservations; how many."""
    finished = 0
    for record in await documents.hidden_due(now=now, limit=limit):
        try:
            if record.work_state is WorkState.UPLOADING:
                record = await documents.abandon_reservation(record, now=now)
            await finish_delete(record, documents=documents, blobs=blobs, index=index)
        except NotFound:
            continue  # completed, or finished by someone else, meanwhile
        finished += 1
        log.info("document.delete_finished", extra={"document_id": record.id})
    return finished
