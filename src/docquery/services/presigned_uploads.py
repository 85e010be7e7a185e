"""Direct uploads: a presigned POST straight to S3, then the same checks as a streamed upload.

The ticket says who asked; a hidden reservation of the document (as a streamed upload writes)
is made before the POST is handed out, so bytes that land and are never registered are removed
by the sweeper with it. The object lands at `documents/<id>/upload.pdf`; once its bytes pass
(`%PDF-`, size, sha256, duplicates) they are copied, at the ETag that was hashed, to the
document's own key and the upload object is removed: a second POST within the form's life
can never change a registered document's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, replace
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
from docquery.domain.ids import is_document_id
from docquery.domain.uploads import (
    PDF_SIGNATURE,
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
    NotAPdf,
    NotFound,
    UnsupportedExtension,
    UploadExpired,
    UploadNotReceived,
)
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.direct_uploads import (
    PresignedPost,
    UploadBucket,
    UploadState,
    UploadTicket,
    UploadTickets,
)

log = logging.getLogger(__name__)

PDF_CONTENT_TYPE = "application/pdf"
UPLOAD_OBJECT = "upload.pdf"
# After the POST's life, this long for the object's check (an S3 event, or the client's
# completion call) before the sweeper removes the reservation and whatever landed.
CHECK_WINDOW = timedelta(minutes=15)
# A check that takes longer than this was abandoned (its process died): another may take over.
CHECK_LEASE = timedelta(minutes=2)
# Clocks differ a little: a check gives up this long before the sweeper may act.
MARGIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class DirectUploadPorts:
    blobs: BlobStore
    documents: DocumentStore
    tickets: UploadTickets
    bucket: UploadBucket
    policy: UploadPolicy


@dataclass(frozen=True, slots=True)
class StartedUpload:
    ticket: UploadTicket
    post: PresignedPost


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    ticket: UploadTicket
    document: Document | None = None


def upload_key(upload_id: str) -> str:
    return f"{document_prefix(upload_id)}{UPLOAD_OBJECT}"


def upload_id_of(key: str) -> str | None:
    """The upload id an object key names, if it is a direct upload's key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "documents" and parts[2] == UPLOAD_OBJECT:
        return parts[1] if is_document_id(parts[1]) else None
    return None


async def start_upload(
    *,
    owner: str,
    filename: str | None,
    title: str | None,
    tags: list[str],
    expires_in: int,
    ports: DirectUploadPorts,
) -> StartedUpload:
    """Reserve a document id and hand out a POST form that can put one PDF at its key."""
    name = clean_filename(filename)
    if filename and file_extension(name) not in ports.policy.allowed_extensions:
        raise UnsupportedExtension(
            f"allowed extensions: {', '.join(ports.policy.allowed_extensions)}"
        )
    try:
        clean_title, clean_tags = parse_title(title, filename=name), parse_tags(tags)
    except ValueError as exc:
        raise InvalidField(str(exc)) from exc
    now = utcnow()
    upload_id = new_document_id()
    post_expires = now + timedelta(seconds=expires_in)
    ticket = UploadTicket(
        id=upload_id,
        owner=owner,
        key=upload_key(upload_id),
        filename=name,
        title=clean_title,
        tags=clean_tags,
        state=UploadState.PENDING,
        created_at=now,
        post_expires_at=post_expires,
        due_at=post_expires + CHECK_WINDOW,
    )
    # The reservation first: whatever lands at the key from now on has a record the sweeper finds.
    await ports.documents.reserve(_reservation(ticket))
    await ports.tickets.put(ticket)
    post = await ports.bucket.presign_post(
        ticket.key,
        max_size=ports.policy.max_file_size,
        content_type=PDF_CONTENT_TYPE,
        expires_in=expires_in,
    )
    log.info("upload.presigned", extra={"document_id": upload_id})
    return StartedUpload(ticket, post)


async def upload_status(*, owner: str, upload_id: str, ports: DirectUploadPorts) -> UploadOutcome:
    """What became of the owner's direct upload; another owner's id is NotFound."""
    ticket = await ports.tickets.get(upload_id)
    if ticket is None or ticket.owner != owner:
        raise NotFound(f"upload {upload_id} not found")
    if ticket.state in (UploadState.PENDING, UploadState.CHECKING) and utcnow() >= ticket.due_at:
        # Never checked in time: the sweeper removes (or removed) the reservation and the bytes.
        ticket = replace(
            ticket,
            state=UploadState.FAILED,
            failure_code=UploadExpired.code,
            failure_message="the upload was not completed in time",
        )
    document = None
    if ticket.document_id is not None:
        with contextlib.suppress(NotFound):
            document = await ports.documents.get(owner=owner, document_id=ticket.document_id)
    return UploadOutcome(ticket, document)


async def complete_upload(*, owner: str, upload_id: str, ports: DirectUploadPorts) -> UploadOutcome:
    """The client says its POST succeeded: check and register the object now (idempotent)."""
    ticket = await ports.tickets.get(upload_id)
    if ticket is None or ticket.owner != owner:
        raise NotFound(f"upload {upload_id} not found")
    if ticket.state is UploadState.PENDING and await ports.bucket.head(ticket.key) is None:
        raise UploadNotReceived("no file has arrived for this upload yet")
    await register_object(ticket.key, ports=ports)
    return await upload_status(owner=owner, upload_id=upload_id, ports=ports)


async def register_object(key: str, *, ports: DirectUploadPorts) -> UploadState | None:
    """Check an object a direct upload put, and make it a queued document or remove it.

    Called for S3 events (Lambda) and by the completion call (every aws deployment); any number
    of calls for one key register it at most once. Returns the ticket's state after the call,
    None for a key that is no direct upload's."""
    upload_id = upload_id_of(key)
    if upload_id is None:
        return None
    now = utcnow()
    ticket = await ports.tickets.begin_check(upload_id, now=now, until=now + CHECK_LEASE)
    if ticket is None:
        return await _settled(upload_id, key, ports)
    try:
        ticket = await _check_and_register(ticket, ports)
    except BaseException as exc:
        code = exc.code if isinstance(exc, DocQueryError) else "internal_error"
        log.warning("upload.check_interrupted", extra={"document_id": upload_id, "code": code})
        raise
    await ports.tickets.finish(ticket)
    log.info("upload.checked", extra={"document_id": upload_id, "code": ticket.state.value})
    return ticket.state


async def _settled(upload_id: str, key: str, ports: DirectUploadPorts) -> UploadState | None:
    """A ticket another call holds or resolved: a later POST's object at a resolved key goes."""
    ticket = await ports.tickets.get(upload_id)
    if ticket is None:
        await ports.bucket.delete(key)  # no ticket, no record: bytes nobody could find
        return None
    if ticket.state not in (UploadState.PENDING, UploadState.CHECKING):
        await ports.bucket.delete(key)
    return ticket.state


async def _check_and_register(ticket: UploadTicket, ports: DirectUploadPorts) -> UploadTicket:
    info = await ports.bucket.head(ticket.key)
    if info is None:
        # The event of an object already removed, or a completion call before the POST.
        return replace(ticket, state=UploadState.PENDING)
    try:
        if utcnow() > ticket.due_at - MARGIN:
            raise UploadExpired("the upload was not completed in time")
        sha256 = await _checked_sha256(ticket, info.size, info.etag, ports)
        existing = await ports.documents.find_by_sha256(owner=ticket.owner, sha256=sha256)
        if existing is not None:
            await _discard(ticket, ports)
            return replace(ticket, state=UploadState.DUPLICATE, document_id=existing.id)
        await ports.bucket.promote(ticket.key, blob_key_for(ticket.id), etag=info.etag)
        document = _document(ticket, size=info.size, sha256=sha256)
        try:
            await ports.documents.create(document)
        except DuplicateContent as exc:
            await _discard(ticket, ports)
            return replace(ticket, state=UploadState.DUPLICATE, document_id=exc.existing_id)
        await ports.bucket.delete(ticket.key)
        return replace(ticket, state=UploadState.STORED, document_id=ticket.id)
    except (NotAPdf, EmptyFile, FileTooLarge, UploadExpired) as exc:
        await _discard(ticket, ports)
        return replace(
            ticket, state=UploadState.FAILED, failure_code=exc.code, failure_message=str(exc)
        )


async def _checked_sha256(
    ticket: UploadTicket, size: int, etag: str, ports: DirectUploadPorts
) -> str:
    """The object's sha256, streamed; the size and the signature checked as for a stream."""
    if size == 0:
        raise EmptyFile("the file is empty")
    if size > ports.policy.max_file_size:
        raise FileTooLarge(f"the file exceeds {ports.policy.max_file_size} bytes")
    hasher = hashlib.sha256()
    head = b""
    async for chunk in ports.bucket.read(ticket.key, etag=etag):
        if len(head) < len(PDF_SIGNATURE):
            head += chunk[: len(PDF_SIGNATURE)]
            if len(head) >= len(PDF_SIGNATURE) and not head.startswith(PDF_SIGNATURE):
                raise NotAPdf("the file does not start with %PDF-")
        hasher.update(chunk)
    if not head.startswith(PDF_SIGNATURE):
        raise NotAPdf("the file does not start with %PDF-")
    return hasher.hexdigest()


async def _discard(ticket: UploadTicket, ports: DirectUploadPorts) -> None:
    """Remove the upload's objects and its reservation (shielded: a cancelled handler too)."""

    async def discard() -> None:
        with contextlib.suppress(NotFound):
            await ports.documents.abandon_reservation(_reservation(ticket), now=ticket.due_at)
        await ports.blobs.delete_prefix(document_prefix(ticket.id))
        with contextlib.suppress(NotFound):
            await ports.documents.delete(owner=ticket.owner, document_id=ticket.id)

    await asyncio.shield(discard())


def _reservation(ticket: UploadTicket) -> Document:
    """The hidden record of the document the upload may become."""
    return replace(
        _document(ticket, size=0, sha256=""),
        work_state=WorkState.UPLOADING,
        work_due_at=ticket.due_at,
    )


def _document(ticket: UploadTicket, *, size: int, sha256: str) -> Document:
    now = utcnow()
    return Document(
        id=ticket.id,
        owner=ticket.owner,
        title=ticket.title,
        filename=ticket.filename,
        content_type=PDF_CONTENT_TYPE,
        size=size,
        sha256=sha256,
        blob_key=blob_key_for(ticket.id),
        tags=ticket.tags,
        status=DocumentStatus.QUEUED,
        created_at=now,
        updated_at=now,
        work_due_at=now,
    )
