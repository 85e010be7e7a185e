"""Wire models: what clients send and receive (never the domain objects themselves)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from docquery.domain.documents import Document, DocumentStatus
from docquery.domain.uploads import MAX_TAGS, MAX_TITLE_LENGTH


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
            created_at=document.created_at,
            updated_at=document.updated_at,
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
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]
