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
import contextlib
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from docquery.domain.processing import FailureCode
from docquery.domain.reading import PageReading, PageSource, page_from_dict
from docquery.pipeline._extract_worker import EXIT_MEMORY, HEADER, frame_budget
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

ProgressCallback = Callable[[int, int], Awaitable[None]]

WORKER_MODULE = "docquery.pipeline._extract_worker"
# Interpreter start and the pdfium import take ~0.2 s; this only catches a worker that cannot
# start at all (a memory limit below the floor, a broken install).
START_TIMEOUT = 30.0
STOP_TIMEOUT = 2.0
# Workers are replaced after this many documents, so a slow leak or a fragmented heap in
# pdfium or Tesseract cannot accumulate for the life of the service.
JOBS_PER_WORKER = 200


class ExtractionFailed(Exception):
    """The document cannot be extracted; `code` says why (shown to clients)."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class ExtractorUnavailable(RuntimeError):
    """No worker process could be started, or the extractor is closed: not the document's fault."""


class _Worker:
    """One worker process and its pipes; runs one document at a time."""

    def __init__(self, process: asyncio.subprocess.Process, limits: ExtractionLimits) -> None:
        self._process = process
        self._limits = limits
        # The worker keeps all of a document's page frames within this budget.
        self._max_frame = frame_budget(limits.max_chars)
        self.jobs = 0
        self.reusable = True

    @classmethod
    async def start(cls, limits: ExtractionLimits) -> _Worker:
        """A started worker that has imported pdfium under its memory limit."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            # -P: the working directory is not put on sys.path (no module shadowing from it).
            "-P",
            "-m",
            WORKER_MODULE,
            limits.to_worker(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1024 * 1024,
        )
        worker = cls(process, limits)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                message = await worker._receive()
        except BaseException:
            worker.kill()
            await worker.reap()
            raise
        if message is None or "ready" not in message:
            status = await worker.reap()
            raise ExtractorUnavailable(
                f"the extraction worker stopped during start-up ({_describe(status)}); "
                "is EXTRACT_MEMORY_LIMIT too low?"
            )
        log.info("pipeline.extract_worker_started")
        return worker

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    async def extract(
        self, pdf: Path, on_progress: ProgressCallback | None, interval: float
    ) -> list[PageReading]:
        """The pages of `pdf`; the worker stays reusable only if the job ended cleanly."""
        self.jobs += 1
        self.reusable = False
        clock = _Deadline(self._limits)
        try:
            async with clock.timeout:
                pages = await self._run(pdf, on_progress, interval, clock)
        except TimeoutError:
            if not clock.timeout.expired():
                raise  # from on_progress, not ours
            raise ExtractionFailed(
                FailureCode.EXTRACTION_TIMEOUT,
                f"extraction took longer than {clock.allowed:g} s",
            ) from None
        except ExtractionFailed as exc:
            # The worker reports these and waits for the next job; after running out of
            # memory it exits instead, and dies with the other causes below.
            self.reusable = exc.code is not FailureCode.EXTRACTION_MEMORY and self.running
            raise
        self.reusable = True
        return pages

    async def _run(
        self,
        pdf: Path,
        on_progress: ProgressCallback | None,
        interval: float,
        clock: _Deadline,
    ) -> list[PageReading]:
        await self._send({"path": str(pdf)})
        progress = _Progress(on_progress, interval)
        pages: list[PageReading] = []
        while True:
            message = await self._receive()
            if message is None:
                status = await self.reap()
                raise ExtractionFailed(
                    _death_code(status), f"the extraction worker died ({_describe(status)})"
                )
            if "error" in message:
                text = str(message.get("message", "")).replace(str(pdf), "<pdf>")
                raise ExtractionFailed(FailureCode(message["error"]), text)
            if "total" in message:
                await progress.start(int(message["total"]))
            elif "read" in message:
                clock.extend(int(message.get("ocr", 0)))
                await progress.update(int(message["read"]))
            elif "page" in message:
                pages.append(page_from_dict(message["page"]))
            elif "done" in message:
                break
        if [page.number for page in pages] != list(range(1, progress.total + 1)):
            raise ExtractionFailed(FailureCode.UNREADABLE_PDF, "the worker lost pages")
        _require_text(pages)
        return pages

    async def _send(self, message: dict[str, Any]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        body = json.dumps(message).encode("utf-8")
        stdin.write(HEADER.pack(len(body)) + body)
        with contextlib.suppress(ConnectionError):
            # A dead worker shows up as end of input on the next read.
            await stdin.drain()

    async def _receive(self) -> dict[str, Any] | None:
        """The next frame from the worker, or None if it has exited."""
        stdout = self._process.stdout
        assert stdout is not None
        try:
            (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
            if size > self._max_frame:
                self.kill()
                return None
            body = await stdout.readexactly(size)
        except asyncio.IncompleteReadError:
            return None
        message = json.loads(body)
        if not isinstance(message, dict):
            self.kill()
            return None
        return message

    def kill(self) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def reap(self) -> int | None:
        """Wait for the process to end (kill it if it will not); its exit status."""
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                return await self._process.wait()
        except TimeoutError:
            self.kill()
            async with asyncio.timeout(STOP_TIMEOUT):
                return await self._process.wait()

    async def stop(self) -> None:
        """End the worker: end of input asks it to exit; it is killed if it does not."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        await self.reap()


def _require_text(pages: list[PageReading]) -> None:
    """A document must have some text: no_text_layer, or ocr_failed if OCR found none."""
    if any(page.text.strip() for page in pages):
        return
    if any(page.source is PageSource.OCR for page in pages):
        message = f"OCR found no text on any of the {len(pages)} pages"
        raise ExtractionFailed(FailureCode.OCR_FAILED, message)
    message = f"none of the {len(pages)} pages has a text layer"
    raise ExtractionFailed(FailureCode.NO_TEXT_LAYER, message)


class _Deadline:
    """The document's wall-clock limit, extended as OCR pages are done."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self._limits = limits
        self._start = asyncio.get_running_loop().time()
        self.allowed = limits.deadline_seconds(0)
        self.timeout = asyncio.timeout(self.allowed)

    def extend(self, ocr_pages: int) -> None:
        allowed = self._limits.deadline_seconds(ocr_pages)
        if allowed > self.allowed:
            self.allowed = allowed
            self.timeout.reschedule(self._start + allowed)


class _Progress:
    """Reports (done, total): at the start, then at most every `interval` s, and at the end."""

    def __init__(self, callback: ProgressCallback | None, interval: float) -> None:
        self._callback = callback
        self._interval = interval
        self._reported = -math.inf
        self.total = 0

    async def start(self, total: int) -> None:
        self.total = total
        await self._report(0)

    async def update(self, done: int) -> None:
        if done == self.total or time.monotonic() - self._reported >= self._interval:
            await self._report(done)

    async def _report(self, done: int) -> None:
        if self._callback is not None:
            self._reported = time.monotonic()
            await self._callback(done, self.total)


def _death_code(status: int | None) -> FailureCode:
    if status == -signal.SIGXCPU:
        return FailureCode.EXTRACTION_TIMEOUT
    if status == EXIT_MEMORY or (status is not None and status < 0):
        # SIGKILL from the kernel's OOM killer, SIGSEGV/SIGABRT from an allocation that failed
        # under RLIMIT_AS in native code.
        return FailureCode.EXTRACTION_MEMORY
    return FailureCode.UNREADABLE_PDF


def _describe(status: int | None) -> str:
    if status is None:
        return "still running"
    if status < 0:
        return f"signal {signal.Signals(-status).name}"
    return f"exit status {status}"


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
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        # Every process not yet reaped: idle, busy, or killed and awaiting its replacement.
        self._processes: set[_Worker] = set()
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

    async def _start_worker(self) -> _Worker:
        worker = await _Worker.start(self._limits)
        self._processes.add(worker)
        return worker

    async def _stop_all(self) -> None:
        # Idle workers are asked to exit (end of input); busy ones are killed.
        idle = {self._idle.get_nowait() for _ in range(self._idle.qsize())}
        for worker in self._processes - idle:
            worker.kill()
        await asyncio.gather(*(worker.stop() for worker in self._processes), return_exceptions=True)
        self._processes.clear()

    def _release(self, worker: _Worker | None) -> None:
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

    async def _replace(self, old: _Worker) -> None:
        new: _Worker | None = None
        try:
            await old.reap()
            self._processes.discard(old)
            new = await self._start_worker()
        except Exception:
            log.exception("pipeline.extract_worker_start_failed")
        finally:
            self._idle.put_nowait(new)
