"""Extraction benchmark: pages/s of PdfExtractor against plain pypdf, and event-loop lag.

Run from the repository root with the dev environment active:

    python bench/extract.py                       # shared PDFs + a generated 500-page PDF
    python bench/extract.py --seconds 1 --rounds 5 --pages 500 --workers 1 --json out.json

Throughput. For each of the shared PDFs in ../shared/data/pdfs (the password-protected one
excepted) and for a generated text PDF of --pages pages (tests/support/bad_pdfs.text_pdf),
two ways of getting every page's text are timed, alternating, --rounds times:

  in-process  PdfReader(path, strict=False); page.extract_text() for every page, in this process
  extractor   await PdfExtractor.extract(path): the service's path (a worker process started
              before the clock, one frame per page over a pipe, limits, progress disabled)

Each round repeats the document until at least --seconds have passed; a row shows the median
pages/s of the rounds and extractor / in-process (the ratio is the cost of isolation).

Event-loop lag. While the 500-page PDF is extracted over and over for --lag-seconds, a
coroutine sleeps 5 ms in a loop and records how late it wakes (p50/p99/max). Measured for
the extractor, for pypdf in asyncio.to_thread (the GIL is shared with the loop), for pypdf
called on the loop itself, and for an idle loop (the timer's own resolution).

Reading (bench/_reading_bench.py; `--reading-only` runs just this). pypdf text against
read_document (blocks, tables, furniture, sections) on the generated PDF and on the
born-digital PDFs of ../shared/data/clinical, alternating in one run, and OCR pages/s on the
clinical set's scanned PDFs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from pypdf import PdfReader

import _reading_bench
from docquery.pipeline.extraction import ExtractionLimits, PdfExtractor

REPO = Path(__file__).resolve().parents[1]
SHARED_PDFS = REPO.parent / "shared" / "data" / "pdfs"
CLINICAL = REPO.parent / "shared" / "data" / "clinical"
ENCRYPTED = {"libreoffice-writer-password.pdf"}
PROBE_SLEEP = 0.005
LIMITS = ExtractionLimits(
    timeout_seconds=120.0, memory_bytes=1024**3, max_pages=2000, max_chars=5_000_000
)


@dataclass
class Throughput:
    document: str
    pages: int
    in_process_pages_per_s: float
    extractor_pages_per_s: float
    ratio: float
    in_process_rounds: list[float]
    extractor_rounds: list[float]


@dataclass
class Lag:
    scenario: str
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def in_process(path: Path) -> int:
    """Plain pypdf: every page's text; the number of pages."""
    reader = PdfReader(path, strict=False)
    return len([page.extract_text() for page in reader.pages])


async def timed_round(run: Callable[[], Awaitable[int]], seconds: float) -> float:
    """Pages/s of `run` repeated until `seconds` have passed."""
    pages = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        pages += await run()
    return pages / elapsed


async def throughput(
    extractor: PdfExtractor, path: Path, *, seconds: float, rounds: int
) -> Throughput:
    async def plain() -> int:
        return in_process(path)

    async def isolated() -> int:
        return len(await extractor.extract(path))

    pages = await isolated()  # warm-up, and the page count
    in_process(path)
    plain_rounds, pool_rounds = [], []
    for _ in range(rounds):
        plain_rounds.append(await timed_round(plain, seconds))
        pool_rounds.append(await timed_round(isolated, seconds))
    plain_median = statistics.median(plain_rounds)
    pool_median = statistics.median(pool_rounds)
    return Throughput(
        document=path.name,
        pages=pages,
        in_process_pages_per_s=plain_median,
        extractor_pages_per_s=pool_median,
        ratio=pool_median / plain_median,
        in_process_rounds=plain_rounds,
        extractor_rounds=pool_rounds,
    )


async def lag_during(scenario: str, work: Callable[[], Awaitable[object]], seconds: float) -> Lag:
    """How late a 5 ms sleep wakes while `work` runs repeatedly for `seconds`."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(PROBE_SLEEP)
            lags.append(time.perf_counter() - started - PROBE_SLEEP)

    prober = asyncio.create_task(probe())
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        await work()
    stop.set()
    await prober
    lags.sort()
    return Lag(
        scenario=scenario,
        samples=len(lags),
        p50_ms=1000 * statistics.median(lags),
        p99_ms=1000 * lags[max(0, math.ceil(len(lags) * 0.99) - 1)],
        max_ms=1000 * lags[-1],
    )


async def event_loop_lag(extractor: PdfExtractor, path: Path, seconds: float) -> list[Lag]:
    async def isolated() -> None:
        await extractor.extract(path)

    async def threaded() -> None:
        await asyncio.to_thread(in_process, path)

    async def on_loop() -> None:
        in_process(path)
        await asyncio.sleep(PROBE_SLEEP)  # room for the probe to wake between documents

    async def idle() -> None:
        await asyncio.sleep(0.05)

    return [
        await lag_during("idle loop", idle, seconds),
        await lag_during("extractor (worker process)", isolated, seconds),
        await lag_during("pypdf in asyncio.to_thread", threaded, seconds),
        await lag_during("pypdf on the event loop", on_loop, seconds),
    ]


async def start_up_seconds(workers: int, times: int = 5) -> float:
    """Median time for `async with PdfExtractor(...)` to have its workers ready."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        async with PdfExtractor(workers=workers, limits=LIMITS):
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def generated_pdf(directory: Path, pages: int) -> Path:
    # The test suite's generator; tests/ is not a package on the path outside pytest.
    sys.path.insert(0, str(REPO / "tests"))
    bad_pdfs = importlib.import_module("support.bad_pdfs")
    path = directory / f"generated-{pages}-pages.pdf"
    path.write_bytes(bad_pdfs.text_pdf(pages))
    return path


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "pypdf": metadata.version("pypdf"),
        "cryptography": metadata.version("cryptography"),
    }


def print_tables(rows: list[Throughput], lags: list[Lag], start_up: float, workers: int) -> None:
    print()
    print("| Document | Pages | in-process pages/s | extractor pages/s | extractor / in-process |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.document} | {row.pages} | {row.in_process_pages_per_s:,.0f} "
            f"| {row.extractor_pages_per_s:,.0f} | {row.ratio:.2f} |"
        )
    print()
    print("| Event loop during the 500-page extraction | Samples | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for lag in lags:
        print(
            f"| {lag.scenario} | {lag.samples} | {lag.p50_ms:.2f} | {lag.p99_ms:.2f} "
            f"| {lag.max_ms:.2f} |"
        )
    print()
    print(f"extractor start-up ({workers} worker(s) ready): {start_up * 1000:.0f} ms (median of 5)")


def reading(big: Path, args: argparse.Namespace) -> dict[str, object]:
    """Structure against pypdf text on the same files; OCR pages/s on the clinical scans."""
    documents = [json.loads(line) for line in (CLINICAL / "documents.jsonl").open()]
    born = [CLINICAL / d["file"] for d in documents if not d["scanned"]]
    scans = [CLINICAL / d["file"] for d in documents if d["scanned"]]
    rows = [_reading_bench.reading_throughput([big], seconds=args.seconds, rounds=args.rounds)]
    if born:
        rows.append(
            _reading_bench.reading_throughput(born, seconds=args.seconds, rounds=args.rounds)
        )
    ocr = _reading_bench.ocr_pages_per_second(scans) if scans and not args.no_ocr else None
    _reading_bench.print_reading(rows, ocr)
    return {
        "throughput": [asdict(row) for row in rows],
        "ocr_pages": ocr[0] if ocr else None,
        "ocr_pages_per_s": ocr[1] if ocr else None,
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        big = generated_pdf(Path(tmp), args.pages)
        if args.reading_only:
            return {"machine": machine(), "reading": reading(big, args)}
        reading_report = reading(big, args)
        documents = [p for p in sorted(SHARED_PDFS.glob("*.pdf")) if p.name not in ENCRYPTED]
        documents.append(big)
        start_up = await start_up_seconds(args.workers)
        async with PdfExtractor(workers=args.workers, limits=LIMITS) as extractor:
            rows = []
            for path in documents:
                row = await throughput(extractor, path, seconds=args.seconds, rounds=args.rounds)
                print(f"{row.document}: {row.ratio:.2f}", file=sys.stderr)
                rows.append(row)
            lags = await event_loop_lag(extractor, big, args.lag_seconds)
    print_tables(rows, lags, start_up, args.workers)
    return {
        "machine": machine(),
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "start_up_seconds": start_up,
        "throughput": [asdict(row) for row in rows],
        "event_loop_lag": [asdict(lag) for lag in lags],
        "reading": reading_report,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum time per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per document and way")
    parser.add_argument("--pages", type=int, default=500, help="pages of the generated PDF")
    parser.add_argument("--workers", type=int, default=1, help="extractor worker processes")
    parser.add_argument("--lag-seconds", type=float, default=3.0, help="per lag scenario")
    parser.add_argument("--json", type=Path, help="also write the machine and every round here")
    parser.add_argument("--reading-only", action="store_true", help="only the reading figures")
    parser.add_argument("--no-ocr", action="store_true", help="skip OCR pages/s")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {json.dumps(machine())}")
    report = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
