"""How a document moves through the pipeline: pure functions from one state to the next."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from docquery.domain.documents import Document, DocumentStatus, Lease, WorkState
from docquery.domain.processing import (
    Failure,
    FailureCode,
    ProcessingStage,
    Progress,
    SummaryStatus,
)


def requeued(
    document: Document,
    *,
    now: datetime,
    from_scratch: bool = False,
    delay: float = 0.0,
    failure: Failure | None = None,
) -> Document:
    """Back in the queue: from scratch (reprocess), or to resume after a lost or released lease.

    `failure` records why this attempt did not finish; it becomes the document's failure if
    the attempts run out (clients see it only once the document has failed)."""
    work = {
        "work_state": WorkState.QUEUED,
        "work_due_at": now + timedelta(seconds=delay),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if from_scratch:
        return replace(
            document,
            status=DocumentStatus.QUEUED,
            stage=None,
            progress=None,
            failure=None,
            page_count=None,
            summary_status=SummaryStatus.PENDING,
            summary_failure=None,
            attempts=0,
            **work,  # type: ignore[arg-type]
        )
    # Extraction restarts from the beginning; a readable document stays readable.
    status = DocumentStatus.QUEUED if document.status is DocumentStatus.PROCESSING else None
    return replace(
        document,
        status=status or document.status,
        stage=None,
        progress=None if status else document.progress,
        failure=failure or document.failure,
        **work,  # type: ignore[arg-type]
    )


def released(document: Document, *, now: datetime) -> Document:
    """Handed back on shutdown: due now, and the interrupted attempt does not count."""
    return replace(requeued(document, now=now), attempts=max(document.attempts - 1, 0))


def renewed(document: Document, *, lease: Lease, now: datetime, lease_seconds: float) -> Document:
    expires = now + timedelta(seconds=lease_seconds)
    return replace(
        document,
        lease_owner=lease.worker,
        attempts=lease.attempt,
        lease_expires_at=expires,
        work_due_at=expires,
        work_state=WorkState.LEASED,
    )


def extracting(
    document: Document, *, total: int | None = None, done: int = 0, ocr: int = 0
) -> Document:
    return replace(
        document,
        status=DocumentStatus.PROCESSING,
        stage=ProcessingStage.EXTRACTING,
        progress=Progress(done, total, ocr) if total is not None else None,
        failure=None,
    )


def indexing(document: Document, *, pages: int) -> Document:
    return replace(
        document,
        stage=ProcessingStage.INDEXING,
        page_count=pages,
        progress=_all_read(document, pages),
    )


def _all_read(document: Document, pages: int) -> Progress:
    """Every page done; the OCR count the extraction reported stays (it must not go back)."""
    ocr = document.progress.ocr if document.progress else 0
    return Progress(pages, pages, min(ocr, pages))


def readable(document: Document, *, pages: int, summaries: bool) -> Document:
    """Text extracted and stored: the document is ready whatever becomes of its summary."""
    return replace(
        document,
        status=DocumentStatus.READY,
        page_count=pages,
        progress=_all_read(document, pages),
        failure=None,
        stage=ProcessingStage.SUMMARISING if summaries else None,
        summary_status=SummaryStatus.PENDING if summaries else SummaryStatus.DISABLED,
        summary_failure=None,
    )


def summarised(document: Document, *, failure: Failure | None = None) -> Document:
    return done(
        replace(
            document,
            stage=None,
            summary_status=SummaryStatus.FAILED if failure else SummaryStatus.READY,
            summary_failure=failure,
        )
    )


def finished(document: Document) -> Document:
    """Nothing left to do; a summary still pending has no model to make it."""
    if document.summary_status is SummaryStatus.PENDING:
        document = replace(document, summary_status=SummaryStatus.DISABLED)
    return done(replace(document, stage=None))


def failed(document: Document, failure: Failure) -> Document:
    """The document failed for good; its summary, unless disabled, failed with it."""
    disabled = document.summary_status is SummaryStatus.DISABLED
    return done(
        replace(
            document,
            status=DocumentStatus.FAILED,
            stage=None,
            failure=failure,
            summary_status=SummaryStatus.DISABLED if disabled else SummaryStatus.FAILED,
            summary_failure=None if disabled else not_summarised(failure),
        )
    )


def not_summarised(failure: Failure) -> Failure:
    """Why the summary failed when the document itself did: the document's code, said so."""
    return Failure(
        failure.code, f"the document failed, so it was not summarised: {failure.message}"
    )


def done(document: Document) -> Document:
    """No work outstanding: out of the work index, no lease."""
    return replace(
        document, work_state=None, work_due_at=None, lease_owner=None, lease_expires_at=None
    )


def out_of_attempts(document: Document, *, max_attempts: int) -> Failure | None:
    """The failure to end with when a claim has used up the document's attempts."""
    if document.attempts <= max_attempts:
        return None
    if document.failure is not None:
        return document.failure
    return Failure(
        FailureCode.WORKER_LOST,
        f"processing was interrupted {document.attempts - 1} times",
    )
