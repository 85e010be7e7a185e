"""PdfExtractor: real and hostile PDFs, limits, worker recovery, progress, and a free event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from docquery.domain.processing import FailureCode
from docquery.pipeline import extract_worker_handle, extraction
from docquery.pipeline.extraction import (
    ExtractionFailed,
    ExtractionLimits,
    ExtractorUnavailable,
    OcrLimits,
    PdfExtractor,
    ProgressCallback,
)
from support import bad_pdfs
from support.pdfs import SAMPLE_PDFS
from support.reading_pdfs import Page, build_pdf, scanned

LIMITS = ExtractionLimits(
    timeout_seconds=30.0, memory_bytes=1024**3, max_pages=2000, max_chars=5_000_000
)

# Every sample PDF: its page count and words from its first and last pages.
SAMPLES = {
    "google-doc-document.pdf": (1, ["Beautiful is better than ugly", "Explicit is better"]),
    "minimal-document.pdf": (1, ["Lorem ipsum dolor sit amet", "Lorem ipsum"]),
    "multicolumn.pdf": (3, ["Two-Column Document with Lorem Ipsum", "EU Countries"]),
    "pdflatex-4-pages.pdf": (4, ["Hello, here is some text without a meaning", "Hello"]),
}
ENCRYPTED_SAMPLE = "libreoffice-writer-password.pdf"


@pytest.fixture(scope="module")
async def extractor() -> AsyncIterator[PdfExtractor]:
    async with PdfExtractor(workers=2, limits=LIMITS) as pool:
        yield pool


@pytest.fixture
def write_pdf(tmp_path: Path) -> Callable[[bytes], Path]:
    def write(data: bytes) -> Path:
        path = tmp_path / f"doc-{len(list(tmp_path.iterdir()))}.pdf"
        path.write_bytes(data)
        return path

    return write


async def failure_of(extractor: PdfExtractor, pdf: Path) -> ExtractionFailed:
    with pytest.raises(ExtractionFailed) as caught:
        await extractor.extract(pdf)
    return caught.value


class Started(asyncio.Event):
    """Set when an extraction reports its first progress: the worker is inside the document."""

    async def callback(self, done: int, total: int, ocr: int) -> None:
        self.set()


def worker_pids() -> set[int]:
    """The extraction workers among this process's children."""
    pids = set()
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline")
            if cmdline.exists() and b"_extract_worker" in cmdline.read_bytes():
                pids.add(int(pid))
    return pids


def test_every_sample_has_an_expectation() -> None:
    names = {path.name for path in SAMPLE_PDFS.glob("*.pdf")}
    assert names == {*SAMPLES, ENCRYPTED_SAMPLE}


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_samples_give_every_page_and_its_text(extractor: PdfExtractor, name: str) -> None:
    count, (first_words, last_words) = SAMPLES[name]

    pages = await extractor.extract(SAMPLE_PDFS / name)

    assert [page.number for page in pages] == list(range(1, count + 1))
    assert first_words in pages[0].text
    assert last_words in pages[-1].text
    assert all(page.text.strip() for page in pages)


async def test_password_protected_sample_is_encrypted_pdf(extractor: PdfExtractor) -> None:
    failure = await failure_of(extractor, SAMPLE_PDFS / ENCRYPTED_SAMPLE)
    assert failure.code is FailureCode.ENCRYPTED_PDF


async def test_generated_text_pdf_round_trips(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path]
) -> None:
    pages = await extractor.extract(write_pdf(bad_pdfs.text_pdf(500)))

    assert len(pages) == 500
    for page in (pages[0], pages[249], pages[499]):
        assert page.text.split() == bad_pdfs.page_text(page.number).split()


async def test_nul_characters_are_dropped_from_the_text(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path]
) -> None:
    pdf = write_pdf(bad_pdfs.pages_pdf([b"BT /F1 12 Tf 72 720 Td (dose\\0005 mg) Tj ET"]))

    (page,) = await extractor.extract(pdf)

    # pdfium gives the NUL glyph its advance, so the words around it may read as two.
    assert "\x00" not in page.text
    assert page.text.replace(" ", "") == "dose5mg"


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
async def test_empty_user_password_is_opened(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path], algorithm: str
) -> None:
    pdf = write_pdf(bad_pdfs.encrypted_pdf(user_password="", algorithm=algorithm))

    pages = await extractor.extract(pdf)

    assert [page.number for page in pages] == [1, 2]
    assert "marker2" in pages[1].text


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: bad_pdfs.encrypted_pdf(user_password="s3cret"), FailureCode.ENCRYPTED_PDF),
        (
            lambda: bad_pdfs.encrypted_pdf(user_password="s3cret", algorithm="RC4-128"),
            FailureCode.ENCRYPTED_PDF,
        ),
        (bad_pdfs.truncated_pdf, FailureCode.UNREADABLE_PDF),
        (bad_pdfs.zero_pages_pdf, FailureCode.UNREADABLE_PDF),
        (bad_pdfs.not_a_pdf, FailureCode.UNREADABLE_PDF),
        (lambda: b"", FailureCode.UNREADABLE_PDF),
        (bad_pdfs.scanned_pdf, FailureCode.NO_TEXT_LAYER),
        (bad_pdfs.circular_kids_pdf, FailureCode.UNREADABLE_PDF),
        # pypdf stops at the loop and finds no text; the page has nothing else to read.
        (bad_pdfs.circular_contents_pdf, FailureCode.NO_TEXT_LAYER),
        # pdfium has no per-stream cap (pypdf's stopped this as too_complex): inflating 1 GiB
        # passes the worker's 1 GiB address space, pdfium aborts, and the worker is replaced.
        (lambda: bad_pdfs.bomb_pdf(expanded_mib=1024), FailureCode.EXTRACTION_MEMORY),
    ],
    ids=[
        "encrypted-aes",
        "encrypted-rc4",
        "truncated",
        "zero-pages",
        "not-a-pdf",
        "empty-file",
        "scanned",
        "circular-kids",
        "circular-contents",
        "decompression-bomb",
    ],
)
async def test_hostile_pdfs_fail_with_their_code(
    extractor: PdfExtractor,
    write_pdf: Callable[[bytes], Path],
    make: Callable[[], bytes],
    code: FailureCode,
) -> None:
    failure = await failure_of(extractor, write_pdf(make()))

    assert failure.code is code
    assert failure.message
    # The worker survived (or was replaced): the next document is read.
    pages = await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")
    assert len(pages) == 1


async def test_a_pdf_without_its_eof_line_is_still_read(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path]
) -> None:
    # pdfium recovers the intact body of a file whose last line is missing (pypdf refused it).
    pages = await extractor.extract(write_pdf(bad_pdfs.no_eof_pdf()))

    assert [page.number for page in pages] == [1, 2, 3]
    assert pages[2].text.split() == bad_pdfs.page_text(3).split()


async def test_a_missing_file_is_a_storage_error_and_hides_its_path(
    extractor: PdfExtractor, tmp_path: Path
) -> None:
    failure = await failure_of(extractor, tmp_path / "missing.pdf")

    assert failure.code is FailureCode.STORAGE_ERROR
    assert str(tmp_path) not in failure.message


async def test_page_and_text_caps(write_pdf: Callable[[bytes], Path]) -> None:
    limits = ExtractionLimits(
        timeout_seconds=30.0, memory_bytes=1024**3, max_pages=4, max_chars=1000
    )
    async with PdfExtractor(workers=1, limits=limits) as extractor:
        too_many = await failure_of(extractor, write_pdf(bad_pdfs.text_pdf(5)))
        too_much = await failure_of(extractor, write_pdf(bad_pdfs.text_pdf(4, words=200)))
        at_the_limit = await extractor.extract(write_pdf(bad_pdfs.text_pdf(2)))

    assert too_many.code is FailureCode.TOO_MANY_PAGES
    assert too_much.code is FailureCode.TOO_MUCH_TEXT
    assert len(at_the_limit) == 2


async def test_timeout_kills_the_worker_and_the_pool_recovers(
    write_pdf: Callable[[bytes], Path],
) -> None:
    # 2000 pages take ~1 s on this machine: far beyond a 0.2 s limit.
    limits = ExtractionLimits(
        timeout_seconds=0.2, memory_bytes=1024**3, max_pages=5000, max_chars=10**8
    )
    slow = write_pdf(bad_pdfs.text_pdf(2000))
    others = worker_pids()
    async with PdfExtractor(workers=1, limits=limits) as extractor:
        before = worker_pids() - others
        started = time.monotonic()
        failure = await failure_of(extractor, slow)
        elapsed = time.monotonic() - started

        pages = await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")
        after = worker_pids() - others

    assert failure.code is FailureCode.EXTRACTION_TIMEOUT
    assert elapsed < 1.0
    assert len(pages) == 1
    assert before.isdisjoint(after), "the timed-out worker was replaced"


async def test_memory_limit_kills_the_worker_and_the_pool_recovers(
    write_pdf: Callable[[bytes], Path],
) -> None:
    # pdfium decodes a page's whole content stream: 300 MiB passes a 256 MiB address space.
    limits = ExtractionLimits(
        timeout_seconds=30.0, memory_bytes=256 * 1024**2, max_pages=100, max_chars=10**6
    )
    hog = write_pdf(bad_pdfs.bomb_pdf(expanded_mib=300))
    async with PdfExtractor(workers=1, limits=limits) as extractor:
        failure = await failure_of(extractor, hog)
        pages = await extractor.extract(SAMPLE_PDFS / "pdflatex-4-pages.pdf")

    assert failure.code is FailureCode.EXTRACTION_MEMORY
    # Python's MemoryError reports "out of memory"; pdfium's failed allocation aborts.
    assert failure.message in ("out of memory", "the extraction worker died (signal SIGABRT)")
    assert len(pages) == 4


async def test_a_worker_killed_by_the_kernel_is_extraction_memory(
    write_pdf: Callable[[bytes], Path],
) -> None:
    # What the OOM killer does: SIGKILL in the middle of a document.
    big = write_pdf(bad_pdfs.text_pdf(2000))
    others = worker_pids()
    async with PdfExtractor(workers=1, limits=LIMITS) as extractor:
        (pid,) = worker_pids() - others

        async def kill_on_first_page(done: int, total: int, ocr: int) -> None:
            if done == 0:
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(ExtractionFailed) as caught:
            await extractor.extract(big, on_progress=kill_on_first_page)
        pages = await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")

    assert caught.value.code is FailureCode.EXTRACTION_MEMORY
    assert "SIGKILL" in caught.value.message
    assert len(pages) == 1


async def test_cancelled_extraction_kills_its_worker(write_pdf: Callable[[bytes], Path]) -> None:
    big = write_pdf(bad_pdfs.text_pdf(2000))
    inside = Started()
    others = worker_pids()
    async with PdfExtractor(workers=1, limits=LIMITS) as extractor:
        before = worker_pids() - others
        task = asyncio.create_task(extractor.extract(big, on_progress=inside.callback))
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pages = await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")
        after = worker_pids() - others

    assert len(pages) == 1
    assert before.isdisjoint(after)


async def test_progress_goes_up_to_all_pages(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path]
) -> None:
    calls: list[tuple[int, int, int]] = []

    async def record(done: int, total: int, ocr: int) -> None:
        calls.append((done, total, ocr))

    await extractor.extract(write_pdf(bad_pdfs.text_pdf(300)), on_progress=record)

    assert calls[0] == (0, 300, 0)
    assert calls[-1] == (300, 300, 0)
    assert [done for done, _, _ in calls] == sorted({done for done, _, _ in calls})


async def test_progress_for_every_page_without_throttling(
    write_pdf: Callable[[bytes], Path],
) -> None:
    calls: list[tuple[int, int, int]] = []

    async def record(done: int, total: int, ocr: int) -> None:
        calls.append((done, total, ocr))

    async with PdfExtractor(workers=1, limits=LIMITS, progress_interval=0) as extractor:
        await extractor.extract(write_pdf(bad_pdfs.text_pdf(5)), on_progress=record)

    assert calls == [(done, 5, 0) for done in range(6)]


async def test_progress_counts_the_pages_read_by_ocr(write_pdf: Callable[[bytes], Path]) -> None:
    typed = Page().text(54, 60, "Typed discharge letter")
    scan = Page().text(54, 60, "Scanned referral letter", size=18)
    pdf = write_pdf(build_pdf([scanned(scan), typed, scanned(scan)]))
    calls: list[tuple[int, int, int]] = []

    async def record(done: int, total: int, ocr: int) -> None:
        calls.append((done, total, ocr))

    limits = replace(LIMITS, ocr=OcrLimits())
    async with PdfExtractor(workers=1, limits=limits, progress_interval=0) as extractor:
        pages = await extractor.extract(pdf, on_progress=record)

    assert [page.source.value for page in pages] == ["ocr", "text_layer", "ocr"]
    assert calls == [(0, 3, 0), (1, 3, 1), (2, 3, 1), (3, 3, 2)]


async def test_at_most_workers_extractions_at_once(write_pdf: Callable[[bytes], Path]) -> None:
    pdfs = [write_pdf(bad_pdfs.text_pdf(800)) for _ in range(3)]
    spans: dict[int, list[float]] = {}

    def recorder(index: int) -> ProgressCallback:
        async def record(done: int, total: int, ocr: int) -> None:
            spans.setdefault(index, []).append(time.monotonic())

        return record

    async with PdfExtractor(workers=2, limits=LIMITS, progress_interval=0) as extractor:
        results = await asyncio.gather(
            *(extractor.extract(pdf, on_progress=recorder(i)) for i, pdf in enumerate(pdfs))
        )

    assert [len(pages) for pages in results] == [800, 800, 800]
    intervals = sorted((times[0], times[-1]) for times in spans.values())
    (_, end_a), (start_b, end_b), (start_c, _) = intervals
    assert start_b < end_a, "two documents ran at the same time"
    assert start_c >= min(end_a, end_b), "the third waited for a free worker"


async def test_event_loop_stays_responsive_during_extraction(
    extractor: PdfExtractor, write_pdf: Callable[[bytes], Path]
) -> None:
    pdf = write_pdf(bad_pdfs.text_pdf(500))
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - started - 0.005)

    prober = asyncio.create_task(probe())
    for _ in range(3):
        pages = await extractor.extract(pdf)
        assert len(pages) == 500
    done.set()
    await prober

    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1]
    assert len(lags) > 50
    # A loop blocked by parsing would show hundreds of ms; this bounds CI noise, not speed.
    assert p99 < 0.05, f"p99 lag {p99 * 1000:.1f} ms, median {statistics.median(lags) * 1000:.1f}"


async def test_start_fails_clearly_below_the_memory_floor() -> None:
    limits = ExtractionLimits(
        timeout_seconds=5.0, memory_bytes=16 * 1024**2, max_pages=10, max_chars=10_000
    )
    others = worker_pids()
    with pytest.raises(ExtractorUnavailable, match="EXTRACT_MEMORY_LIMIT"):
        async with PdfExtractor(workers=2, limits=limits):
            pass
    assert worker_pids() <= others, "nothing of this pool is left running"


async def test_closing_during_an_extraction_stops_promptly(
    write_pdf: Callable[[bytes], Path],
) -> None:
    big = write_pdf(bad_pdfs.text_pdf(2000))
    inside = Started()
    others = worker_pids()
    extractor = PdfExtractor(workers=1, limits=LIMITS)
    await extractor.__aenter__()
    (pid,) = worker_pids() - others
    running = asyncio.create_task(extractor.extract(big, on_progress=inside.callback))
    await inside.wait()
    waiting = asyncio.create_task(extractor.extract(big))
    await asyncio.sleep(0.01)

    closing_at = time.monotonic()
    await extractor.__aexit__(None, None, None)
    for task in (running, waiting):
        with pytest.raises(ExtractorUnavailable):
            await task

    assert time.monotonic() - closing_at < 1.0
    assert pid not in worker_pids()
    with pytest.raises(ExtractorUnavailable):
        await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")


async def test_an_error_in_on_progress_is_the_callers_and_the_pool_recovers(
    write_pdf: Callable[[bytes], Path],
) -> None:
    async def failing(done: int, total: int, ocr: int) -> None:
        raise TimeoutError("the progress store timed out")

    async with PdfExtractor(workers=1, limits=LIMITS) as extractor:
        with pytest.raises(TimeoutError, match="progress store"):
            await extractor.extract(write_pdf(bad_pdfs.text_pdf(50)), on_progress=failing)
        pages = await extractor.extract(SAMPLE_PDFS / "minimal-document.pdf")

    assert len(pages) == 1


async def test_workers_are_replaced_after_a_number_of_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extraction, "JOBS_PER_WORKER", 2)
    sample = SAMPLE_PDFS / "minimal-document.pdf"
    others = worker_pids()
    async with PdfExtractor(workers=1, limits=LIMITS) as extractor:
        await extractor.extract(sample)
        first = worker_pids() - others  # one document done: kept
        await extractor.extract(sample)  # two: replaced
        await extractor.extract(sample)
        last = worker_pids() - others

    assert len(first) == len(last) == 1
    assert first.isdisjoint(last)


def test_each_ocr_page_done_earns_time_up_to_the_ceiling() -> None:
    limits = ExtractionLimits(
        timeout_seconds=120.0,
        memory_bytes=1024**3,
        max_pages=2000,
        max_chars=10**6,
        ocr_page_allowance_seconds=5.0,
        max_timeout_seconds=600.0,
    )
    assert limits.deadline_seconds(0) == 120.0
    # 70 scanned pages at 1.6 s each (112 s) fit; part 1 measured 0.61 OCR pages/s.
    assert limits.deadline_seconds(70) == 470.0
    assert limits.deadline_seconds(1000) == 600.0
    # No ceiling configured below the base: the base is the ceiling.
    assert replace(limits, max_timeout_seconds=0.0).deadline_seconds(10) == 120.0


async def test_the_wall_clock_moves_when_ocr_pages_are_done() -> None:
    limits = ExtractionLimits(
        timeout_seconds=0.2,
        memory_bytes=1024**3,
        max_pages=10,
        max_chars=1000,
        ocr_page_allowance_seconds=60.0,
        max_timeout_seconds=120.0,
    )
    clock = extract_worker_handle.Deadline(limits)
    async with clock.timeout:
        clock.extend(1)
        # Without the extension this sleep would pass the 0.2 s deadline.
        await asyncio.sleep(0.6)
    assert clock.allowed == 60.2
    assert not clock.timeout.expired()
