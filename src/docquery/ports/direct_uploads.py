"""Direct uploads: the client sends the PDF straight to the bucket with a presigned POST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class UploadState(StrEnum):
    PENDING = "pending"  # the presigned POST is out; no object checked yet
    CHECKING = "checking"  # a handler is checking the object that landed
    STORED = "stored"  # it became the document `document_id`
    DUPLICATE = "duplicate"  # the owner had these bytes already: `document_id` is that document
    FAILED = "failed"  # refused (`failure_code`); the object is gone


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """A direct upload in flight: who asked, what for, and what became of it."""

    id: str
    owner: str
    key: str
    filename: str
    title: str
    tags: tuple[str, ...]
    state: UploadState
    created_at: datetime
    post_expires_at: datetime  # S3 refuses the POST after this
    due_at: datetime  # the reservation's due time: the sweeper removes what is left after it
    document_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    checking_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    etag: str


class UploadTickets(Protocol):
    """Where tickets live; every state change is conditional."""

    async def put(self, ticket: UploadTicket) -> None:
        """Insert a new ticket."""

    async def get(self, upload_id: str) -> UploadTicket | None:
        """The ticket, whoever owns it (the event handler knows no owner)."""
        ...

    async def begin_check(
        self, upload_id: str, *, now: datetime, until: datetime
    ) -> UploadTicket | None:
        """Move a pending ticket (or one whose check was abandoned before `now`) to checking;
        None if it is not there or another handler holds it or it is resolved."""
        ...

    async def finish(self, ticket: UploadTicket) -> None:
        """Write the outcome of a check (state, document_id, failure) of a checking ticket."""


class UploadBucket(Protocol):
    """The bucket as direct uploads use it: presign, inspect, promote, remove."""

    async def presign_post(
        self, key: str, *, max_size: int, content_type: str, expires_in: int
    ) -> PresignedPost:
        """A POST form that can put one object of at most max_size bytes at exactly key."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and ETag of the object, None if absent."""
        ...

    def read(self, key: str, *, etag: str) -> AsyncIterator[bytes]:
        """The object's bytes, only while it still has this ETag (NotFound otherwise)."""
        ...

    async def promote(self, source: str, target: str, *, etag: str) -> None:
        """Copy source (only at this ETag) to target, server-side, encrypted; NotFound if the
        object changed or went."""

    async def delete(self, key: str) -> None:
        """Remove one object (idempotent)."""
