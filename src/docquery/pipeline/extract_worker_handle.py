"""One extraction worker process: its pipes, its document's deadline and progress reports.

The worker reads one document at a time and answers in frames (`_extract_worker`); this side
turns them into page readings, progress calls and ExtractionFailed with the worker's code.
The deadline starts at `timeout_seconds` and each OCR page done earns
`ocr_page_allowance_seconds`, up to the ceiling (see `extraction`).
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
from typing import Any

from docquery.domain.processing import FailureCode
from docquery.domain.reading import PageReading, PageSource, page_from_dict
from docquery.pipeline._extract_worker import EXIT_MEMORY, HEADER, frame_budget
from docquery.pipeline.extraction_limits import ExtractionLimits

log = logging.getLogger(__name__)

# (done, total, ocr): pages read so far, pages in the document, and how many of them by OCR.
ProgressCallback = Callable[[int, int, int], Awaitable[None]]

WORKER_MODULE = "docquery.pipeline._extract_worker"
# Interpreter start and the pdfium import take ~0.2 s; this only catches a worker that cannot
# start at all (a memory limit below the floor, a broken install).
START_TIMEOUT = 30.0
STOP_TIMEOUT = 2.0


class ExtractionFailed(Exception):
    """The document cannot be extracted; `code` says why (shown to clients)."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class ExtractorUnavailable(RuntimeError):
    """No worker process could be started, or the extractor is closed: not the document's fault."""


class Worker:
    """One worker process and its pipes; runs one document at a time."""

    def __init__(self, process: asyncio.subprocess.Process, limits: ExtractionLimits) -> None:
        self._process = process
        self._limits = limits
        # The worker keeps all of a document's page frames within this budget.
        self._max_frame = frame_budget(limits.max_chars)
        self.jobs = 0
        self.reusable = True

    @classmethod
    async def start(cls, limits: ExtractionLimits) -> Worker:
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
        clock = Deadline(self._limits)
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
        clock: Deadline,
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
                ocr = int(message.get("ocr", 0))
                clock.extend(ocr)
                await progress.update(int(message["read"]), ocr)
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


class Deadline:
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
    """Reports (done, total, ocr): at the start, then at most every `interval` s, and at the end."""

    def __init__(self, callback: ProgressCallback | None, interval: float) -> None:
        self._callback = callback
        self._interval = interval
        self._reported = -math.inf
        self.total = 0

    async def start(self, total: int) -> None:
        self.total = total
        await self._report(0, 0)

    async def update(self, done: int, ocr: int) -> None:
        if done == self.total or time.monotonic() - self._reported >= self._interval:
            await self._report(done, ocr)

    async def _report(self, done: int, ocr: int) -> None:
        if self._callback is not None:
            self._reported = time.monotonic()
            await self._callback(done, self.total, ocr)


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
