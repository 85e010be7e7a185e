"""What the pipeline produces and how a document's processing is reported: plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ProcessingStage(StrEnum):
    EXTRACTING = "extracting"
    INDEXING = "indexing"
    SUMMARISING = "summarising"


class SummaryStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    DISABLED = "disabled"


class FailureCode(StrEnum):
    """Why a document (or its summary) failed; stable, shown to clients."""

    ENCRYPTED_PDF = "encrypted_pdf"
    NO_TEXT_LAYER = "no_text_layer"
    UNREADABLE_PDF = "unreadable_pdf"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MUCH_TEXT = "too_much_text"
    EXTRACTION_TIMEOUT = "extraction_timeout"
    EXTRACTION_MEMORY = "extraction_memory"
    OCR_FAILED = "ocr_failed"
    STORAGE_ERROR = "storage_error"
    WORKER_LOST = "worker_lost"
    MODEL_THROTTLED = "model_throttled"
    MODEL_TIMEOUT = "model_timeout"
    MODEL_ERROR = "model_error"


@dataclass(frozen=True, slots=True)
class Failure:
    code: FailureCode
    message: str


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    # Of the `done` pages, how many were read by OCR (records from before it read as 0).
    ocr: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """The extracted text of one page; numbers start at 1."""

    number: int
    text: str


# Sections of a clinical summary, in the order a clinician reads them.
SUMMARY_SECTIONS = ("overview", "findings", "diagnoses", "medications", "follow_up")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a summary and the pages it came from."""

    text: str
    pages: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SummarySection:
    name: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """A clinical summary; empty sections are omitted."""

    sections: tuple[SummarySection, ...]
    model_id: str
    created_at: datetime
