"""PDF reading in a pool of worker processes, with time, memory, page and text limits.

pdfium, the reading engine and Tesseract run only in the workers (`_extract_worker`), one
document at a time each. A document that hangs or bloats them costs one worker: it is killed
and replaced, and the extraction fails with its code. The parent only moves bounded frames
between the pipe and the event loop.

Time: a document gets `timeout_seconds`, and each page read by OCR earns another
`ocr_page_allowance_seconds`, up to `max_timeout_seconds`. The allowance is earned when an
OCR page is done, so a page that hangs cannot extend its own deadline; Tesseract's own
per-page limit covers recognition only, and this wall clock is the backstop for the rest.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Self

from docquery.domain.reading import PageReading
from docquery.pipeline.extract_worker_handle import (
    ExtractionFailed,
    ExtractorUnavailable,
    ProgressCallback,
    Worker,
)
from docquery.pipeline.extraction_limits import ExtractionLimits, OcrLimits

__all__ = [
    "ExtractionFailed",
    "ExtractionLimits",
    "ExtractorUnavailable",
    "OcrLimits",
    "PdfExtractor",
    "ProgressCallback",
]

log = logging.getLogger(__name__)

# Workers are replaced after this many documents, so a slow leak or a fragmented heap in
# pdfium or Tesseract cannot accumulate for the life of the service.
JOBS_PER_WORKER = 200


class PdfExtractor:
    """Reads PDF files page by page (text, blocks, OCR) in `workers` worker processes."""

    def __init__(
        self, *, workers: int, limits: ExtractionLimits, progress_interval: float = 0.5
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._count = workers
        self._limits = limits
        self._progress_interval = progress_interval
        # Idle workers; None marks a slot whose worker must be (re)started before use.
        self._idle: asyncio.Queue[Worker | None] = asyncio.Queue()
        # Every process not yet reaped: idle, busy, or killed and awaiting its replacement.
        self._processes: set[Worker] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def __aenter__(self) -> Self:
        try:
            results = await asyncio.gather(
                *(self._start_worker() for _ in range(self._count)), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BaseException:
            await self._stop_all()
            raise
        for worker in self._processes:
            self._idle.put_nowait(worker)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        for task in self._replacing:
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        await self._stop_all()
        # Wake callers waiting for a worker; each hands the marker on and gives up.
        self._idle.put_nowait(None)

    async def extract(
        self, pdf: Path, *, on_progress: ProgressCallback | None = None
    ) -> list[PageReading]:
        """The reading of each page of `pdf`, numbered from 1; raises ExtractionFailed."""
        if self._closed:
            raise ExtractorUnavailable("the extractor is closed")
        worker = await self._idle.get()
        if self._closed:
            self._idle.put_nowait(worker)
            raise ExtractorUnavailable("the extractor is closed")
        try:
            if worker is None:
                worker = await self._start_worker()
            return await worker.extract(pdf, on_progress, self._progress_interval)
        except ExtractionFailed as exc:
            if self._closed:
                raise ExtractorUnavailable("the extractor closed during extraction") from exc
            log.info("pipeline.extract_failed", extra={"code": exc.code.value})
            raise
        finally:
            self._release(worker)

    async def _start_worker(self) -> Worker:
        worker = await Worker.start(self._limits)
        self._processes.add(worker)
        return worker

    async def _stop_all(self) -> None:
        # Idle workers are asked to exit (end of input); busy ones are killed.
        idle = {self._idle.get_nowait() for _ in range(self._idle.qsize())}
        for worker in self._processes - idle:
            worker.kill()
        await asyncio.gather(*(worker.stop() for worker in self._processes), return_exceptions=True)
        self._processes.clear()

    def _release(self, worker: Worker | None) -> None:
        if self._closed:
            if worker is not None:
                worker.kill()
            return
        if worker is None:
            # The start failed: leave the slot for the next caller to try again.
            self._idle.put_nowait(None)
            return
        if worker.reusable and worker.running and worker.jobs < JOBS_PER_WORKER:
            self._idle.put_nowait(worker)
            return
        # Killed here, synchronously, so that a cancelled caller cannot leave it running.
        worker.kill()
        task = asyncio.get_running_loop().create_task(self._replace(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, old: Worker) -> None:
        new: Worker | None = None
        try:
            await old.reap()
            self._processes.discard(old)
            new = await self._start_worker()
        except Exception:
            log.exception("pipeline.extract_worker_start_failed")
        finally:
            self._idle.put_nowait(new)
