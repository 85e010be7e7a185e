"""The upload use case: stream a PDF into the blob store, then record it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

from docquery.domain.documents import (
    Document,
    DocumentStatus,
    WorkState,
    blob_key_for,
    document_prefix,
    new_document_id,
    utcnow,
)
from docquery.domain.uploads import (
    PDF_SIGNATURE,
    FileChunk,
    FileEnded,
    FileStarted,
    FormField,
    UploadEvent,
    UploadPolicy,
    clean_filename,
    file_extension,
    parse_tags,
    parse_title,
)
from docquery.errors import (
    DocQueryError,
    DuplicateContent,
    EmptyFile,
    FileTooLarge,
    InvalidField,
    MissingFile,
    NotAPdf,
    NotFound,
    StorageError,
    TooManyFiles,
    UnsupportedExtension,
)
from docquery.ports import BlobStore, BlobWriter, DocumentStore

log = logging.getLogger(__name__)

PDF_CONTENT_TYPE = "application/pdf"
_TEXT_FIELDS = ("title", "tags")
# An upload's reservation covers only the commit of its bytes (a rename, or S3's
# CompleteMultipartUpload): far shorter than this. After it, the sweeper removes it and its bytes.
_RESERVATION_WINDOW = timedelta(minutes=15)
# Clocks of replicas differ a little: an upload gives up this long before the sweeper may act.
_RESERVATION_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class UploadResult:
    document: Document
    created: bool


@dataclass(slots=True)
class _Received:
    """What has arrived of the upload so far."""

    policy: UploadPolicy
    filename: str | None = None
    size: int = 0
    head: bytes = b""
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add_field(self, event: FormField) -> None:
        if event.name not in _TEXT_FIELDS:
            raise InvalidField(f"unknown form field {event.name[:64]!r}", field=event.name[:64])
        self.fields.setdefault(event.name, []).append(event.value)

    def start_file(self, event: FileStarted) -> None:
        if self.filename is not None:
            raise TooManyFiles("send exactly one file part named 'file'")
        self.filename = clean_filename(event.filename)
        extension = file_extension(self.filename)
        if event.filename and extension not in self.policy.allowed_extensions:
            raise UnsupportedExtension(
                f"allowed extensions: {', '.join(self.policy.allowed_extensions)}"
            )

    def take(self, data: bytes) -> bytes:
        """Account for a chunk; return the bytes that may be stored now (after the signature)."""
        self.size += len(data)
        if self.size > self.policy.max_file_size:
            raise FileTooLarge(f"the file exceeds {self.policy.max_file_size} bytes")
        self.hasher.update(data)
        if len(self.head) >= len(PDF_SIGNATURE):
            return data
        self.head += data
        if len(self.head) < len(PDF_SIGNATURE):
            return b""
        if not self.head.startswith(PDF_SIGNATURE):
            raise NotAPdf("the file does not start with %PDF-")
        return self.head

    def finish(self) -> None:
        if self.size == 0:
            raise EmptyFile("the file is empty")
        if not self.head.startswith(PDF_SIGNATURE):
            raise NotAPdf("the file does not start with %PDF-")


async def upload_document(
    *,
    owner: str,
    events: AsyncIterator[UploadEvent],
    policy: UploadPolicy,
    blobs: BlobStore,
    documents: DocumentStore,
) -> UploadResult:
    """Stream the file part into storage, then record it; the same bytes again return the first."""
    document_id = new_document_id()
    key = blob_key_for(document_id)
    received = _Received(policy=policy)
    writer = blobs.open_writer(key, content_type=PDF_CONTENT_TYPE)
    reservation: Document | None = None
    try:
        await _receive(events, received, writer)
        document = _new_document(document_id, key, owner, received)
        existing = await documents.find_by_sha256(owner=owner, sha256=received.hasher.hexdigest())
        if existing is not None:
            await writer.abort()
            return UploadResult(existing, created=False)
        # The record before the bytes: a crash from here on leaves a reservation the sweeper finds.
        reservation = _reservation(document)
        await documents.reserve(reservation)
        await writer.commit()
    except BaseException:
        # Shielded: a client that went away cancels this task, but the clean-up must still run.
        await asyncio.shield(writer.abort())
        if reservation is not None:
            await asyncio.shield(_discard(reservation, blobs, documents, maybe_created=False))
        raise
    assert reservation is not None
    return await _complete(document, reservation, blobs, documents)


async def _complete(
    document: Document, reservation: Document, blobs: BlobStore, documents: DocumentStore
) -> UploadResult:
    """Turn the reservation into the document, or remove what was stored."""
    assert reservation.work_due_at is not None
    if utcnow() > reservation.work_due_at - _RESERVATION_MARGIN:
        # The sweeper may be removing it already: never complete a reservation past its time.
        await asyncio.shield(_discard(reservation, blobs, documents, maybe_created=False))
        raise StorageError("storing the file took too long")
    try:
        await documents.create(document)
    except DuplicateContent as exc:
        await _discard(reservation, blobs, documents, maybe_created=False)
        existing = await documents.get(owner=document.owner, document_id=exc.existing_id)
        return UploadResult(existing, created=False)
    except BaseException:
        await asyncio.shield(_discard(reservation, blobs, documents, maybe_created=True))
        raise
    log.info("document.uploaded", extra={"document_id": document.id, "size": document.size})
    return UploadResult(document, created=True)


def _reservation(document: Document) -> Document:
    """The hidden record written before the bytes are committed."""
    return replace(
        document,
        work_state=WorkState.UPLOADING,
        work_due_at=utcnow() + _RESERVATION_WINDOW,
    )


async def _discard(
    reservation: Document, blobs: BlobStore, documents: DocumentStore, *, maybe_created: bool
) -> None:
    """Remove an upload's bytes and reservation; never raises (the sweeper is the backstop).

    With `maybe_created` the record write may have landed despite the error (a lost response,
    a cancelled request), and then the bytes are the document's: they go only if the
    reservation can still be turned into a delete."""
    try:
        try:
            await documents.abandon_reservation(
                reservation, now=reservation.work_due_at or utcnow()
            )
        except NotFound:
            if maybe_created:
                return
        await blobs.delete_prefix(document_prefix(reservation.id))
        with contextlib.suppress(NotFound):
            await documents.delete(owner=reservation.owner, document_id=reservation.id)
    except (DocQueryError, OSError) as exc:
        log.warning(
            "upload.discard_failed",
            extra={"document_id": reservation.id, "error_type": type(exc).__name__},
        )


async def _receive(
    events: AsyncIterator[UploadEvent], received: _Received, writer: BlobWriter
) -> None:
    file_done = False
    async for event in events:
        match event:
            case FormField():
                received.add_field(event)
            case FileStarted():
                received.start_file(event)
            case FileChunk(data=data):
                if ready := received.take(data):
                    await writer.write(ready)
            case FileEnded():
                received.finish()
                file_done = True
    if not file_done:
        raise MissingFile("send the PDF in a form part named 'file'")


def _new_document(document_id: str, key: str, owner: str, received: _Received) -> Document:
    filename = received.filename or clean_filename(None)
    try:
        title = parse_title(" ".join(received.fields.get("title", [])), filename=filename)
        tags = parse_tags(received.fields.get("tags", []))
    except ValueError as exc:
        raise InvalidField(str(exc)) from exc
    now = utcnow()
    return Document(
        id=document_id,
        owner=owner,
        title=title,
        filename=filename,
        content_type=PDF_CONTENT_TYPE,
        size=received.size,
        sha256=received.hasher.hexdigest(),
        blob_key=key,
        tags=tags,
        status=DocumentStatus.QUEUED,
        created_at=now,
        updated_at=now,
        work_due_at=now,
    )
