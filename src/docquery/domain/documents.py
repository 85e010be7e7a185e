"""The document record, its statuses, ids, storage keys and list queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from docquery.domain.processing import Failure, ProcessingStage, Progress, SummaryStatus


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class WorkState(StrEnum):
    """Work outstanding on a record: the pipeline's (claimable, or held under a lease), or the
    sweeper's (an upload's reservation not yet completed, a delete not yet finished)."""

    QUEUED = "queued"
    LEASED = "leased"
    # Hidden from every read until the upload completes it; swept once it is overdue.
    UPLOADING = "uploading"
    # Hidden from every read: the derived data, the bytes, then the record are being removed.
    DELETING = "deleting"


# Records in these states are not documents to anyone but the sweeper.
HIDDEN_STATES = frozenset({WorkState.UPLOADING, WorkState.DELETING})


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on a document; every write it makes is fenced by all three fields."""

    worker: str
    attempt: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Document:
    """One uploaded PDF and what is known about it."""

    id: str
    owner: str
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    blob_key: str
    tags: tuple[str, ...]
    status: DocumentStatus
    created_at: datetime
    updated_at: datetime
    page_count: int | None = None
    version: int = 1
    stage: ProcessingStage | None = None
    progress: Progress | None = None
    failure: Failure | None = None
    summary_status: SummaryStatus = SummaryStatus.PENDING
    summary_failure: Failure | None = None
    # Pipeline bookkeeping: never shown to clients.
    attempts: int = 0
    work_state: WorkState | None = WorkState.QUEUED
    work_due_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    @property
    def lease(self) -> Lease | None:
        if self.lease_owner is None or self.lease_expires_at is None:
            return None
        return Lease(self.lease_owner, self.attempts, self.lease_expires_at)

    @property
    def hidden(self) -> bool:
        """An upload's reservation or a document being deleted: never shown, never worked on."""
        return self.work_state in HIDDEN_STATES

    @property
    def etag(self) -> str:
        """Strong validator of the record: changes with every write."""
        return f'"{self.id[:8]}-{self.version}"'

    @property
    def content_etag(self) -> str:
        """Strong validator of the stored bytes."""
        return f'"{self.sha256}"'

    @property
    def sort_key(self) -> str:
        """Position in the owner's newest-first listing; unique per document."""
        return created_sort_key(self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class DocumentChanges:
    """The editable fields of a document; None leaves a field as it is."""

    title: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page of an owner's documents, newest first, with optional filters."""

    owner: str
    limit: int
    after: str | None = None
    status: DocumentStatus | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentPage:
    items: list[Document] = field(default_factory=list)
    has_more: bool = False


def new_document_id() -> str:
    return uuid.uuid4().hex


def document_prefix(document_id: str) -> str:
    """The folder of every blob that belongs to a document (original and derived artifacts)."""
    return f"documents/{document_id}/"


def blob_key_for(document_id: str) -> str:
    """The storage key of a document's original bytes: derived from the id, never the filename."""
    return f"{document_prefix(document_id)}original.pdf"


def pages_key_for(document_id: str) -> str:
    """The artifact holding the extracted text of every page."""
    return f"{document_prefix(document_id)}pages.json"


def summary_key_for(document_id: str) -> str:
    return f"{document_prefix(document_id)}summary.json"


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def created_sort_key(created_at: datetime, document_id: str) -> str:
    return f"{format_timestamp(created_at)}#{document_id}"
