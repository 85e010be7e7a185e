"""Wire models: what clients send and receive (never the domain objects themselves)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from docquery.api.bounds import TagIn
from docquery.api.reading_schemas import BlockOut
from docquery.domain.documents import Document, DocumentStatus
from docquery.domain.processing import (
    Failure,
    FailureCode,
    ProcessingStage,
    Summary,
    SummaryStatus,
)
from docquery.domain.reading import PageSource
from docquery.domain.uploads import MAX_TAGS, MAX_TITLE_LENGTH
from docquery.errors import InvalidRequest


class FailureOut(BaseModel):
    code: FailureCode = Field(description="Stable reason code")
    message: str


class ProgressOut(BaseModel):
    done: int = Field(description="Pages extracted so far")
    total: int = Field(description="Pages in the document")
    ocr_pages: int = Field(description="How many of the pages done were read by OCR")


class DocumentOut(BaseModel):
    """A document as clients see it."""

    id: str
    title: str
    filename: str = Field(description="Original file name (display only)")
    content_type: str
    size: int = Field(description="Size in bytes")
    sha256: str
    page_count: int | None = Field(description="Number of pages; null until extracted")
    tags: list[str]
    status: DocumentStatus
    stage: ProcessingStage | None = Field(description="While processing: what is being done")
    progress: ProgressOut | None = Field(
        description="While processing: pages done / pages, and how many were read by OCR"
    )
    failure: FailureOut | None = Field(description="Why the document failed (status failed)")
    summary_status: SummaryStatus
    summary_failure: FailureOut | None = Field(description="Why the summary failed")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls(
            id=document.id,
            title=document.title,
            filename=document.filename,
            content_type=document.content_type,
            size=document.size,
            sha256=document.sha256,
            page_count=document.page_count,
            tags=list(document.tags),
            status=document.status,
            stage=document.stage,
            progress=_progress(document),
            # A retried attempt's error stays internal until the document has really failed.
            failure=_failure(document.failure)
            if document.status is DocumentStatus.FAILED
            else None,
            summary_status=document.summary_status,
            summary_failure=_failure(document.summary_failure),
            created_at=document.created_at,
            updated_at=document.updated_at,
        )


def _failure(failure: Failure | None) -> FailureOut | None:
    return FailureOut(code=failure.code, message=failure.message) if failure else None


class PageOut(BaseModel):
    """A page's full text; the other fields appear only when `include` asks for them."""

    number: int
    text: str = Field(description="The page's full text, headers and footers included")
    source: PageSource | None = Field(
        None, description="With include=blocks: `text_layer` or `ocr`, how the page was read"
    )
    ocr_confidence: float | None = Field(
        None, description="With include=blocks: OCR's mean word confidence (0-1); null if not OCR"
    )
    blocks: list[BlockOut] | None = Field(
        None, description="With include=blocks: the page's blocks in reading order"
    )
    markdown: str | None = Field(
        None,
        description="With include=markdown: the page's content as Markdown (headings, tables, "
        "lists; headers, footers and page numbers left out)",
    )


class DocumentTextOut(BaseModel):
    """Extracted text, a range of pages at a time."""

    document_id: str
    page_count: int
    pages: list[PageOut]
    next_page: int | None = Field(description="Pass as `first_page` for the next range")


class StatementOut(BaseModel):
    text: str
    pages: list[int] = Field(description="Pages the statement came from")


class SummarySectionOut(BaseModel):
    name: str = Field(description="overview, findings, diagnoses, medications or follow_up")
    statements: list[StatementOut]


class SummaryOut(BaseModel):
    """A clinical summary whose every statement cites its pages."""

    document_id: str
    model_id: str
    created_at: datetime
    sections: list[SummarySectionOut]

    @classmethod
    def of(cls, document_id: str, summary: Summary) -> SummaryOut:
        return cls(
            document_id=document_id,
            model_id=summary.model_id,
            created_at=summary.created_at,
            sections=[
                SummarySectionOut(
                    name=section.name,
                    statements=[
                        StatementOut(text=item.text, pages=list(item.pages))
                        for item in section.statements
                    ],
                )
                for section in summary.sections
            ],
        )


class DocumentListOut(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class DocumentUpdate(BaseModel):
    """The editable fields; any other field is refused."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE_LENGTH)
    tags: list[TagIn] | None = Field(None, max_length=MAX_TAGS)


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_at_midnight_utc(value: object) -> object:
    """`YYYY-MM-DD` is midnight UTC at the start of that day; anything else is left as it is."""
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value):
        return datetime.combine(date.fromisoformat(value), time(), UTC)
    return value


# A date-time, or a date meaning its midnight UTC (GET: checked by require_time_zones).
Moment = Annotated[datetime, BeforeValidator(_date_at_midnight_utc)]
AwareMoment = Annotated[AwareDatetime, BeforeValidator(_date_at_midnight_utc)]
CREATED_AFTER_HELP = (
    "Only documents created after this moment: a date-time with a time zone "
    "(2026-11-29T08:00:00Z), or a date, which means midnight UTC at the start of that day "
    "(created_after=2026-11-29 keeps documents from 2026-11-29 00:00 UTC on)"
)
CREATED_BEFORE_HELP = (
    "Only documents created before this moment: a date-time with a time zone, or a date, "
    "which means midnight UTC at the start of that day (created_before=2026-11-29 keeps "
    "documents up to the end of 2026-11-28 UTC, none from 2026-11-29)"
)


def require_time_zones(*moments: datetime | None) -> None:
    """Query-string times must say their zone: a naive one would be read in the server's."""
    if any(moment is not None and moment.tzinfo is None for moment in moments):
        raise InvalidRequest("created_after and created_before need a time zone (e.g. Z)")


def _progress(document: Document) -> ProgressOut | None:
    """Shown only while processing; a finished document's page count says the rest."""
    progress = document.progress
    if progress is None or document.status is not DocumentStatus.PROCESSING:
        return None
    return ProgressOut(done=progress.done, total=progress.total, ocr_pages=progress.ocr)
