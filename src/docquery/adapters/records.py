"""The flat record both document stores keep: one codec, so SQLite and DynamoDB cannot drift."""

from __future__ import annotations

from typing import Any

from docquery.domain.documents import (
    Document,
    DocumentStatus,
    WorkState,
    format_timestamp,
    parse_timestamp,
)
from docquery.domain.pipeline_rules import not_summarised
from docquery.domain.processing import (
    Failure,
    FailureCode,
    ProcessingStage,
    Progress,
    SummaryStatus,
)

# The fields the pipeline writes (fenced by the lease); uploads and PATCH never touch them.
WORK_FIELDS = (
    "status",
    "page_count",
    "stage",
    "pages_done",
    "pages_total",
    "pages_ocr",
    "failure_code",
    "failure_message",
    "summary_status",
    "summary_failure_code",
    "summary_failure_message",
    "attempts",
    "work_state",
    "work_due_at",
    "lease_owner",
    "lease_expires_at",
)

FIELDS = (
    "id",
    "owner",
    "title",
    "filename",
    "content_type",
    "size",
    "sha256",
    "blob_key",
    "tags",
    "created_at",
    "updated_at",
    "version",
    *WORK_FIELDS,
)


def to_record(document: Document) -> dict[str, Any]:
    """Every field as a str, int, list of str or None."""
    return {
        "id": document.id,
        "owner": document.owner,
        "title": document.title,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "blob_key": document.blob_key,
        "tags": list(document.tags),
        "created_at": format_timestamp(document.created_at),
        "updated_at": format_timestamp(document.updated_at),
        "version": document.version,
        **work_record(document),
    }


def work_record(document: Document) -> dict[str, Any]:
    """The pipeline's fields of a document."""
    progress, failure, summary_failure = (
        document.progress,
        document.failure,
        document.summary_failure,
    )
    return {
        "status": document.status.value,
        "page_count": document.page_count,
        "stage": document.stage.value if document.stage else None,
        "pages_done": progress.done if progress else None,
        "pages_total": progress.total if progress else None,
        "pages_ocr": progress.ocr if progress else None,
        "failure_code": failure.code.value if failure else None,
        "failure_message": failure.message if failure else None,
        "summary_status": document.summary_status.value,
        "summary_failure_code": summary_failure.code.value if summary_failure else None,
        "summary_failure_message": summary_failure.message if summary_failure else None,
        "attempts": document.attempts,
        "work_state": document.work_state.value if document.work_state else None,
        "work_due_at": _timestamp(document),
        "lease_owner": document.lease_owner,
        "lease_expires_at": (
            format_timestamp(document.lease_expires_at) if document.lease_expires_at else None
        ),
    }


def _timestamp(document: Document) -> str | None:
    return format_timestamp(document.work_due_at) if document.work_due_at else None


def from_record(record: dict[str, Any]) -> Document:
    """The document a record holds; missing optional fields read as None."""
    get = record.get
    return Document(
        id=str(record["id"]),
        owner=str(record["owner"]),
        title=str(record["title"]),
        filename=str(record["filename"]),
        content_type=str(record["content_type"]),
        size=int(record["size"]),
        sha256=str(record["sha256"]),
        blob_key=str(record["blob_key"]),
        tags=tuple(str(tag) for tag in record.get("tags") or ()),
        status=DocumentStatus(record["status"]),
        created_at=parse_timestamp(str(record["created_at"])),
        updated_at=parse_timestamp(str(record["updated_at"])),
        version=int(record["version"]),
        page_count=_int(get("page_count")),
        stage=ProcessingStage(str(get("stage"))) if get("stage") else None,
        progress=(
            Progress(
                int(record["pages_done"]),
                int(record["pages_total"]),
                int(get("pages_ocr") or 0),
            )
            if get("pages_done") is not None and get("pages_total") is not None
            else None
        ),
        failure=_failure(get("failure_code"), get("failure_message")),
        summary_status=SummaryStatus(get("summary_status") or SummaryStatus.PENDING.value),
        summary_failure=_summary_failure(record),
        attempts=int(get("attempts") or 0),
        work_state=WorkState(str(get("work_state"))) if get("work_state") else None,
        work_due_at=parse_timestamp(str(get("work_due_at"))) if get("work_due_at") else None,
        lease_owner=str(get("lease_owner")) if get("lease_owner") else None,
        lease_expires_at=(
            parse_timestamp(str(get("lease_expires_at"))) if get("lease_expires_at") else None
        ),
    )


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _summary_failure(record: dict[str, Any]) -> Failure | None:
    """The summary's failure; records written before it was always stored get one derived."""
    stored = _failure(record.get("summary_failure_code"), record.get("summary_failure_message"))
    if stored is not None or record.get("summary_status") != SummaryStatus.FAILED.value:
        return stored
    # Until then a failed document left its summary failed without a reason: it is the same one.
    failure = _failure(record.get("failure_code"), record.get("failure_message"))
    if failure is not None:
        return not_summarised(failure)
    return Failure(FailureCode.MODEL_ERROR, "the summary failed; its reason was not recorded")


def _failure(code: Any, message: Any) -> Failure | None:
    if not code:
        return None
    return Failure(FailureCode(code), str(message or ""))
