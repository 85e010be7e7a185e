"""DocumentStore: the document records, the source of truth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from docquery.domain.documents import Document, DocumentChanges, DocumentPage, Lease, ListQuery


class DocumentStore(Protocol):
    """Owner-scoped document records; every write is conditional.

    Hidden records (an upload's reservation, a document being deleted) are invisible to every
    read below but `hidden_due`, and to every write but the ones that finish them.
    """

    async def reserve(self, document: Document) -> None:
        """Insert a hidden reservation (work_state uploading) before the upload's bytes are
        committed, so no stored byte is ever without a record that can find it."""

    async def create(self, document: Document) -> None:
        """Insert the record, or complete the upload's reservation of the same id;
        DuplicateContent if the owner has these bytes already (the reservation stays)."""

    async def get(self, *, owner: str, document_id: str) -> Document:
        """The owner's document; NotFound for a missing id or another owner's."""
        ...

    async def get_many(self, *, owner: str, document_ids: Sequence[str]) -> dict[str, Document]:
        """The owner's documents among these ids (at most 100), by id; missing ids are absent."""
        ...

    async def find_by_sha256(self, *, owner: str, sha256: str) -> Document | None:
        """The owner's document with these bytes, if any."""
        ...

    async def list_page(self, query: ListQuery) -> DocumentPage:
        """One page of the owner's documents, newest first."""
        ...

    async def update(
        self,
        *,
        owner: str,
        document_id: str,
        changes: DocumentChanges,
        expected_version: int | None,
    ) -> Document:
        """Apply changes; PreconditionFailed if the version moved, NotFound if absent."""
        ...

    async def mark_deleting(self, *, owner: str, document_id: str, now: datetime) -> Document:
        """Hide the document from every read, drop its lease and free its bytes for a new upload;
        of racing callers exactly one wins, the others get NotFound."""
        ...

    async def abandon_reservation(self, document: Document, *, now: datetime) -> Document:
        """Turn a reservation due by `now` into a delete to finish (the sweeper passes the time,
        the upload that made it its due time); NotFound if it was completed or removed."""
        ...

    async def delete(self, *, owner: str, document_id: str) -> Document:
        """Remove a hidden record (marked deleting, or a reservation) and return it; NotFound
        if absent or visible."""
        ...

    async def hidden_due(self, *, now: datetime, limit: int) -> list[Document]:
        """Deletes left unfinished and reservations overdue at `now`, for the sweeper."""
        ...

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    async def claim(self, *, worker: str, now: datetime, lease_seconds: float) -> Document | None:
        """Lease the longest-waiting document whose work is due; exactly one caller wins it."""
        ...

    async def save_work(self, document: Document, *, lease: Lease) -> Document:
        """Write the pipeline's fields of document, only while `lease` still holds; LeaseLost
        otherwise (expired and taken over, released, or the document deleted)."""
        ...

    async def expired_leases(self, *, now: datetime, limit: int) -> list[Document]:
        """Documents whose lease ran out before `now` (their worker died or hung)."""
        ...

    async def requeue(self, *, owner: str, document_id: str, now: datetime) -> Document:
        """Reset a document for processing from scratch; Conflict while a worker holds it."""
        ...
