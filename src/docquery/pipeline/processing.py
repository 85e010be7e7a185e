"""Processing one claimed document: read → store readings, index page texts → ready → summarise."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from docquery.domain.documents import Document, DocumentStatus
from docquery.domain.pipeline_rules import (
    extracting,
    failed,
    finished,
    indexing,
    out_of_attempts,
    readable,
    summarised,
)
from docquery.domain.processing import Failure, FailureCode, Page, SummaryStatus
from docquery.domain.reading import PageReading
from docquery.domain.search import searchable
from docquery.errors import ModelFailed, OcrFailed
from docquery.pipeline.extraction import ExtractionFailed
from docquery.pipeline.leases import LeaseKeeper
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.language_model import LanguageModel
from docquery.ports.search import SearchIndex
from docquery.services import artifacts

log = logging.getLogger(__name__)

# Progress is written at most this often: each write is a conditional update of the record.
PROGRESS_INTERVAL_SECONDS = 1.0
TEMP_PREFIX = "extract-"


class Ocr(Protocol):
    """OCR outside the workers (Textract): a whole stored PDF without any text layer."""

    async def read_document(self, key: str) -> list[PageReading]:
        """The reading of every page of the stored PDF, from its images (OcrFailed if not)."""
        ...


class TextExtractor(Protocol):
    async def extract(
        self, pdf: Path, *, on_progress: Callable[[int, int, int], Awaitable[None]] | None = None
    ) -> list[PageReading]: ...


@dataclass(frozen=True, slots=True)
class Processor:
    """The steps of the pipeline and everything they use."""

    documents: DocumentStore
    blobs: BlobStore
    extractor: TextExtractor
    index: SearchIndex
    model: LanguageModel | None
    temp_dir: Path
    max_attempts: int
    max_pages: int
    max_chars: int
    ocr: Ocr | None = None

    async def process(self, keeper: LeaseKeeper) -> None:
        """Take the document as far as it can go; a deterministic failure ends it for good."""
        document = keeper.document
        if (failure := out_of_attempts(document, max_attempts=self.max_attempts)) is not None:
            given_up = await keeper.update(lambda d: _give_up(d, failure))
            if given_up.status is DocumentStatus.FAILED:
                await self.index.remove(document.id)
            return
        readings: Sequence[PageReading] | None = None
        if document.status is not DocumentStatus.READY:
            readings = await self._extract(keeper)
            if readings is None:
                return
        if keeper.document.summary_status is SummaryStatus.PENDING and self.model is not None:
            # The model is sent the readings' Markdown (blocks), not the bare page texts.
            await self._summarise(keeper, readings)
        else:
            await keeper.update(finished)

    async def _extract(self, keeper: LeaseKeeper) -> list[PageReading] | None:
        document = await keeper.update(lambda d: extracting(d))
        reporter = _ProgressReporter(keeper)
        with _TempFile(self.temp_dir) as path:
            await self._download(document, path)
            pages, failure = await self._read(document, path, reporter)
        if failure is not None:
            await keeper.update(lambda d: failed(d, failure))
            # A reprocessed document that now fails must not stay findable by its old text.
            await self.index.remove(document.id)
            log.info(
                "pipeline.extract_failed",
                extra={"document_id": document.id, "code": failure.code.value},
            )
            return None
        await keeper.update(lambda d: indexing(d, pages=len(pages)))
        await artifacts.save_reading(self.blobs, document.id, pages)
        # Replaces what a previous run indexed, so a reprocessed document never has two copies.
        # Search indexes each page's full text, the text citations are verified against.
        await self.index.replace(searchable(keeper.document), page_texts(pages))
        await keeper.update(
            lambda d: readable(d, pages=len(pages), summaries=self.model is not None)
        )
        log.info("pipeline.extracted", extra={"document_id": document.id, "size": len(pages)})
        return pages

    async def _read(
        self, document: Document, path: Path, reporter: _ProgressReporter
    ) -> tuple[list[PageReading], Failure | None]:
        """The pages' readings, or the reason the document has none we can use."""
        try:
            return await self.extractor.extract(path, on_progress=reporter), None
        except ExtractionFailed as exc:
            if exc.code is FailureCode.STORAGE_ERROR:
                raise  # not the document's fault: the worker retries it later
            if exc.code is FailureCode.NO_TEXT_LAYER and self.ocr is not None:
                return await self._read_scans(document)
            return [], Failure(exc.code, exc.message)

    async def _read_scans(self, document: Document) -> tuple[list[PageReading], Failure | None]:
        """OCR for a PDF without a text layer, under the same caps as extracted text."""
        assert self.ocr is not None
        try:
            pages = await self.ocr.read_document(document.blob_key)
        except OcrFailed as exc:
            if exc.transient:
                raise  # throttled or unreachable: the worker retries it later
            return [], Failure(FailureCode.OCR_FAILED, str(exc))
        log.info("pipeline.ocr_done", extra={"document_id": document.id, "pages": len(pages)})
        if len(pages) > self.max_pages:
            return [], Failure(FailureCode.TOO_MANY_PAGES, f"more than {self.max_pages} pages")
        if sum(len(page.text) for page in pages) > self.max_chars:
            return [], Failure(FailureCode.TOO_MUCH_TEXT, f"more than {self.max_chars} characters")
        if not any(page.text.strip() for page in pages):
            return [], Failure(FailureCode.NO_TEXT_LAYER, "no text on any page, even by OCR")
        return pages, None

    async def _summarise(self, keeper: LeaseKeeper, pages: Sequence[PageReading] | None) -> None:
        assert self.model is not None
        document_id = keeper.document.id
        if pages is None:
            pages = await artifacts.load_reading(self.blobs, document_id)
        try:
            summary = await self.model.summarise(pages)
        except ModelFailed as exc:
            failure = Failure(FailureCode(exc.failure_code), exc.detail)
            await keeper.update(lambda d: summarised(d, failure=failure))
            log.info(
                "pipeline.summary_failed",
                extra={"document_id": document_id, "code": exc.failure_code},
            )
            return
        await artifacts.save_summary(self.blobs, document_id, summary)
        await keeper.update(lambda d: summarised(d))
        log.info("pipeline.summarised", extra={"document_id": document_id})

    async def _download(self, document: Document, path: Path) -> None:
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in self.blobs.read(document.blob_key, chunk_size=1024 * 1024):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)


def page_texts(pages: Sequence[PageReading]) -> list[Page]:
    """Each page's full text (furniture included): what search, answers and summaries read."""
    return [Page(page.number, page.text) for page in pages]


def _give_up(document: Document, failure: Failure) -> Document:
    if document.status is DocumentStatus.READY:
        return summarised(document, failure=failure)
    return failed(document, failure)


class _ProgressReporter:
    """Writes extraction progress, at most once a PROGRESS_INTERVAL_SECONDS and at the end."""

    def __init__(self, keeper: LeaseKeeper) -> None:
        self._keeper = keeper
        self._last = 0.0

    async def __call__(self, done: int, total: int, ocr: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last = now
        await self._keeper.update(lambda d: extracting(d, total=total, done=done, ocr=ocr))


class _TempFile:
    """A private temporary file for the worker process to read, removed afterwards."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".pdf", dir=directory)
        os.close(fd)
        self.path = Path(name)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def clear_temp_files(directory: Path) -> None:
    """Remove files a crashed worker left behind."""
    if directory.is_dir():
        for leftover in directory.glob(f"{TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)
