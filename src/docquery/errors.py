"""Domain errors: each carries its HTTP status and a stable machine-readable code."""

from __future__ import annotations

from typing import Any, ClassVar


class DocQueryError(Exception):
    """Base of every expected failure; rendered as RFC 9457 problem+json."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DocQueryError):
    status, code, title = 404, "not_found", "Not found"


class InvalidRequest(DocQueryError):
    status, code, title = 400, "invalid_request", "Invalid request"


class InvalidQuery(DocQueryError):
    status, code, title = 422, "invalid_query", "Invalid search query"


class InvalidCursor(DocQueryError):
    status, code, title = 400, "invalid_cursor", "Invalid pagination cursor"


class MalformedUpload(DocQueryError):
    status, code, title = 400, "malformed_multipart", "Malformed multipart body"


class MalformedBody(DocQueryError):
    """A JSON body that cannot be read as JSON at all: not UTF-8, or not JSON syntax."""

    status, code, title = 400, "malformed_body", "Malformed request body"


class ContentLengthMismatch(DocQueryError):
    status, code, title = 400, "content_length_mismatch", "Body does not match Content-Length"


class FileTooLarge(DocQueryError):
    status, code, title = 413, "file_too_large", "File too large"


class FieldTooLarge(DocQueryError):
    status, code, title = 413, "field_too_large", "Form field too large"


class RequestTooLarge(DocQueryError):
    """A body over its route's cap, refused before it is read or parsed."""

    status, code, title = 413, "request_too_large", "Request body too large"


class BodyTimeout(DocQueryError):
    """The client sent its body too slowly (slow-loris)."""

    status, code, title = 408, "body_timeout", "Request body too slow"


class BadFraming(DocQueryError):
    """Transfer-Encoding with Content-Length: the body's end is ambiguous (RFC 9112 6.3)."""

    status, code, title = 400, "bad_request_framing", "Ambiguous request framing"


class ServerBusy(DocQueryError):
    """Too many requests are sending bodies at once; the client should retry shortly."""

    status, code, title = 503, "server_busy", "Server busy"


class NotAPdf(DocQueryError):
    status, code, title = 415, "not_a_pdf", "Not a PDF"


class UnsupportedExtension(DocQueryError):
    status, code, title = 415, "unsupported_extension", "File extension not allowed"


class UnsupportedMediaType(DocQueryError):
    status, code, title = 415, "unsupported_media_type", "Unsupported request media type"


class EmptyFile(DocQueryError):
    status, code, title = 422, "empty_file", "Empty file"


class MissingFile(DocQueryError):
    status, code, title = 422, "missing_file", "No file part"


class TooManyFiles(DocQueryError):
    status, code, title = 422, "too_many_files", "More than one file part"


class TooManyFields(DocQueryError):
    status, code, title = 422, "too_many_fields", "Too many form fields"


class InvalidField(DocQueryError):
    status, code, title = 422, "invalid_field", "Invalid form field"


class PreconditionFailed(DocQueryError):
    status, code, title = 412, "precondition_failed", "ETag does not match"


class Unauthenticated(DocQueryError):
    status, code, title = 401, "unauthenticated", "Missing or invalid API key"


class Conflict(DocQueryError):
    status, code, title = 409, "conflict", "Conflict"


class AlreadyExists(Conflict):
    """A record with this key exists; the caller decides what that means."""

    code, title = "already_exists", "Already exists"


class DuplicateContent(Conflict):
    """The owner already has a document with these bytes."""

    code, title = "duplicate_content", "Duplicate content"

    def __init__(self, existing_id: str) -> None:
        super().__init__(f"document {existing_id} has the same content")
        self.existing_id = existing_id


class DocumentBusy(Conflict):
    code, title = "document_busy", "Document is being processed"


class UploadNotReceived(Conflict):
    """A direct upload's completion was called before its file reached the bucket."""

    code, title = "upload_not_received", "Upload not received"


class UploadExpired(DocQueryError):
    """A direct upload was not completed while its reservation lasted."""

    status, code, title = 410, "upload_expired", "Upload expired"


class DirectUploadsUnavailable(DocQueryError):
    """Presigned uploads need a bucket (the aws profile)."""

    status, code, title = 501, "direct_uploads_unavailable", "Direct uploads unavailable"


class NotReady(Conflict):
    code, title = "not_ready", "Not ready"


class LeaseLost(DocQueryError):
    """A worker's lease on a document is gone; it must stop working on it."""

    status, code, title = 409, "lease_lost", "Lease lost"


class StoreUnavailable(DocQueryError):
    status, code, title = 503, "store_unavailable", "Storage unavailable"


class StorageError(DocQueryError):
    status, code, title = 502, "storage_error", "Storage failed"


class AnswersDisabled(DocQueryError):
    status, code, title = 503, "model_disabled", "Language model disabled"


class ModelFailed(DocQueryError):
    """The language model did not produce a result; `failure_code` says why."""

    status, code, title = 503, "model_unavailable", "Language model unavailable"

    def __init__(self, failure_code: str, detail: str | None = None) -> None:
        super().__init__(detail or failure_code)
        self.failure_code = failure_code


class OcrFailed(Exception):
    """OCR gave no text for a document; `transient` when asking later may succeed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
