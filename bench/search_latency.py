"""Search latency benchmark: p50/p99 of GET /v1/search at 5k and 50k pages, embedded profile.

Run from the repository root with the project environment active:

    python bench/search_latency.py                # 1 and 10 copies of SciFact, 1000 requests each
    python bench/search_latency.py --copies 1,10 --requests 1000 --concurrency 1 --json out.json

Corpus. The 5,183 SciFact abstracts (../shared/data/scifact/corpus.jsonl) as pages, one abstract
per page (title, blank line, text; bench/_search_corpus.py writes them), --pages-per-pdf (500)
to a PDF. Copy 0 is the abstracts as they are (its PDFs are read back with pypdf first); copy
k > 0 has a line `corpuscopyK` above each title, so that no upload is byte-identical to another
(the service answers a duplicate with 409) and no two pages are the same. One server and one
data dir serve the whole run: `docquery serve` with the embedded profile's defaults except no
auth, no summaries and 2 extraction workers, on 127.0.0.1 and a random port. Each stage of
--copies ingests the copies it adds (uploads one after another, then waits until every document
is ready) and is then measured: the default 1,10 measures 5,183 and 51,830 pages.

Queries. A pool made once from --seed: the SciFact train claims (5-20 words, kind `claim`;
807 distinct), 100 `short` queries (one or two of the 1,000 commonest title words), 50 `phrase`
queries (two adjacent title words in quotes) and 50 `exclusion` queries (`a b -c`, common
words). Each stage first sends --warmup queries made of abstract titles' first six words (none
is in the pool), then --requests queries from the pool in a shuffled order (all distinct up to
1,007; more go round again), each `GET /v1/search?q=...&limit=--limit`, from --concurrency
tasks sharing one httpx.AsyncClient in this process; the server is a process of its own. A
latency is client side: from sending the request to having read the response, so it includes
loopback HTTP and httpx. Throughput is requests / wall time of the measured requests.

Also reported per stage: ingest time and pages/s of the pages it added, requests answered
4xx/5xx, VmRSS of the server process and, apart, of its extraction workers, and the data dir's
size; per query kind p50/p99/max and the median number of hits; and the slowest requests.

Target: p99 < 50 ms at 50k pages (the first stage with at least 50,000 pages) and no failed
request. It prints PASS/FAIL; only --strict turns FAIL into exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import httpx

from _search_corpus import (
    SCIFACT,
    Abstract,
    Batch,
    Ingested,
    Service,
    build_batches,
    children_rss_mib,
    dir_mib,
    ingest,
    load_corpus,
    load_queries,
    machine,
    percentile,
    rss_mib,
    scratch_dir,
    start_service,
)
from upload import BenchError, csv_of

TARGET_PAGES = 50_000
TARGET_P99_MS = 50.0
COMMON_WORDS = 1000
# Function words of four letters or more, which no one searches for on their own.
FUNCTION_WORDS = frozenset(
    "with from that this after between during into through among their than versus without"  # noqa: SIM905
    " within using based over under does which these when what more less other both".split()
)
SHORT, PHRASES, EXCLUSIONS = 100, 50, 50
SLOWEST = 5
KINDS = ("claim", "short", "phrase", "exclusion")


class Query(NamedTuple):
    kind: str
    text: str


@dataclass
class Sample:
    kind: str
    query: str
    seconds: float
    status: int
    hits: int


@dataclass
class KindStats:
    kind: str
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    median_hits: float


@dataclass
class Stage:
    copies: int
    documents: int
    pages: int
    ingest_s: float
    ingest_pages_per_s: float
    requests: int
    failed: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests_per_s: float
    server_rss_mib: float
    workers_rss_mib: float
    data_dir_mib: float
    kinds: list[KindStats]
    slowest: list[Sample]


# --- queries ---------------------------------------------------------------------------------


def content_words(title: str) -> list[str]:
    """The title's words of four letters or more that are not function words, in order."""
    return [w for w in re.findall(r"[a-z]{4,}", title.lower()) if w not in FUNCTION_WORDS]


def distinct(make: Callable[[], str], count: int) -> list[str]:
    made: set[str] = set()
    while len(made) < count:
        made.add(make())
    return sorted(made)


def query_pool(corpus: Sequence[Abstract], claims: Sequence[str], seed: int) -> list[Query]:
    """Every query to measure, shuffled: the claims, and short, phrase and exclusion queries."""
    rng = random.Random(seed)
    frequency = Counter(w for a in corpus for w in set(content_words(a.title)))
    common = [w for w, _ in frequency.most_common(COMMON_WORDS)]
    # Adjacent in the title itself, so a phrase always matches at least one page.
    pairs = [
        f"{first} {second}"
        for a in corpus
        for first, second in itertools.pairwise(re.findall(r"[a-z]+", a.title.lower()))
        if {first, second} <= set(common)
    ]
    made = {
        "claim": list(dict.fromkeys(claims)),
        "short": distinct(lambda: " ".join(rng.sample(common, rng.choice((1, 2)))), SHORT),
        "phrase": distinct(lambda: f'"{rng.choice(pairs)}"', PHRASES),
        "exclusion": distinct(lambda: "{} {} -{}".format(*rng.sample(common, 3)), EXCLUSIONS),
    }
    pool = [Query(kind, text) for kind, texts in made.items() for text in texts]
    rng.shuffle(pool)
    return pool


def warmup_queries(corpus: Sequence[Abstract], count: int, seed: int) -> list[Query]:
    """The first six words of `count` titles (the pool has no such query)."""
    titles = random.Random(seed + 1).sample(list(corpus), count)
    return [Query("warmup", " ".join(a.title.split()[:6])) for a in titles]


# --- measuring -------------------------------------------------------------------------------


async def send_all(
    client: httpx.AsyncClient, queries: Sequence[Query], *, concurrency: int, limit: int
) -> tuple[list[Sample], float]:
    """Send the queries from `concurrency` tasks; a sample per query and the wall time."""
    pending = iter(queries)
    done: list[Sample] = []

    async def worker() -> None:
        for query in pending:  # shared: each query is taken by one task
            started = time.perf_counter()
            response = await client.get("/v1/search", params={"q": query.text, "limit": limit})
            seconds = time.perf_counter() - started
            hits = len(response.json()["hits"]) if response.status_code == 200 else 0
            done.append(Sample(query.kind, query.text, seconds, response.status_code, hits))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - started


async def measure(
    service: Service, warmup: list[Query], measured: list[Query], args: argparse.Namespace
) -> tuple[list[Sample], float]:
    """Warm up, then send the measured queries, over one client."""
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        await send_all(client, warmup, concurrency=args.concurrency, limit=args.limit)
        return await send_all(client, measured, concurrency=args.concurrency, limit=args.limit)


def kind_stats(samples: list[Sample]) -> list[KindStats]:
    stats = []
    for kind in KINDS:
        ms = [1000 * s.seconds for s in samples if s.kind == kind]
        if ms:
            stats.append(
                KindStats(
                    kind=kind,
                    requests=len(ms),
                    p50_ms=percentile(ms, 0.5),
                    p99_ms=percentile(ms, 0.99),
                    max_ms=max(ms),
                    median_hits=statistics.median(s.hits for s in samples if s.kind == kind),
                )
            )
    return stats


def stage_of(
    copies: int, service: Service, ingested: list[Ingested], samples: list[Sample], wall: float
) -> Stage:
    """A stage's row: the last ingest, the samples, and the server's state now."""
    ms = [1000 * s.seconds for s in samples]
    return Stage(
        copies=copies,
        documents=sum(len(i.document_ids) for i in ingested),
        pages=sum(i.pages for i in ingested),
        ingest_s=ingested[-1].seconds,
        ingest_pages_per_s=ingested[-1].pages_per_s,
        requests=len(samples),
        failed=sum(1 for s in samples if s.status >= 400),
        p50_ms=percentile(ms, 0.5),
        p90_ms=percentile(ms, 0.9),
        p99_ms=percentile(ms, 0.99),
        max_ms=max(ms),
        requests_per_s=len(samples) / wall,
        server_rss_mib=rss_mib(service.pid),
        workers_rss_mib=children_rss_mib(service.pid),
        data_dir_mib=dir_mib(service.data_dir),
        kinds=kind_stats(samples),
        slowest=sorted(samples, key=lambda s: s.seconds, reverse=True)[:SLOWEST],
    )


def copy_batches(corpus: list[Abstract], first: int, end: int, per_pdf: int) -> list[Batch]:
    """The PDFs of copies first..end-1 (copy 0 read back with pypdf, as a check)."""
    batches = []
    for copy in range(first, end):
        print(f"writing copy {copy} ...", flush=True)
        batches += build_batches(
            corpus,
            per_pdf,
            name=f"scifact-copy{copy}",
            replaced=Counter(),
            header=f"corpuscopy{copy}" if copy else "",
            verify=copy == 0,
        )
    return batches


def run_stages(args: argparse.Namespace, corpus: list[Abstract], workdir: Path) -> list[Stage]:
    """Ingest each stage's new copies into one server and measure after each."""
    pool = query_pool(corpus, list(load_queries(args.queries).values()), args.seed)
    measured = [pool[i % len(pool)] for i in range(args.requests)]
    warmup = warmup_queries(corpus, args.warmup, args.seed)
    stages: list[Stage] = []
    ingested: list[Ingested] = []
    with contextlib.ExitStack() as stack, httpx.Client(timeout=120) as client:
        service = start_service(stack, workdir, extract_workers=2)
        for copies in sorted(set(args.copies)):
            done = stages[-1].copies if stages else 0
            batches = copy_batches(corpus, done, copies, args.pages_per_pdf)
            print(f"ingesting {len(batches)} PDFs ...", flush=True)
            ingested.append(ingest(client, service, batches, timeout=args.ready_timeout))
            print(f"measuring at {sum(i.pages for i in ingested)} pages ...", flush=True)
            samples, wall = asyncio.run(measure(service, warmup, measured, args))
            stages.append(stage_of(copies, service, ingested, samples, wall))
            for sample in [s for s in samples if s.status >= 400][:5]:
                print(f"failed: {sample.status} for {sample.kind} query {sample.query!r}")
    return stages


# --- report ----------------------------------------------------------------------------------


def print_tables(stages: list[Stage], args: argparse.Namespace) -> None:
    print()
    print(f"limit={args.limit}, concurrency={args.concurrency}, warm-up {args.warmup} queries")
    print()
    print(
        "| Pages | docs | ingest s | pages/s | requests | failed | p50 ms | p90 ms | p99 ms "
        "| max ms | req/s | server RSS MiB | workers RSS MiB | data dir MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in stages:
        print(
            f"| {s.pages:,} | {s.documents} | {s.ingest_s:.1f} | {s.ingest_pages_per_s:.0f} "
            f"| {s.requests} | {s.failed} | {s.p50_ms:.1f} | {s.p90_ms:.1f} | {s.p99_ms:.1f} "
            f"| {s.max_ms:.1f} | {s.requests_per_s:.0f} | {s.server_rss_mib:.0f} "
            f"| {s.workers_rss_mib:.0f} | {s.data_dir_mib:.0f} |"
        )
    print()
    print("| Pages | query kind | requests | p50 ms | p99 ms | max ms | median hits |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for s in stages:
        for k in s.kinds:
            print(
                f"| {s.pages:,} | {k.kind} | {k.requests} | {k.p50_ms:.1f} | {k.p99_ms:.1f} "
                f"| {k.max_ms:.1f} | {k.median_hits:g} |"
            )
    print()
    for s in stages:
        print(f"slowest at {s.pages:,} pages:")
        for sample in s.slowest:
            print(f"  {1000 * sample.seconds:6.1f} ms  {sample.kind:9}  {sample.query}")
    print()


def check_target(stages: list[Stage]) -> bool | None:
    """PASS/FAIL at the first stage of TARGET_PAGES pages or more; None if there is none."""
    stage = next((s for s in stages if s.pages >= TARGET_PAGES), None)
    if stage is None:
        print(f"target: SKIPPED (no stage reached {TARGET_PAGES:,} pages)")
        return None
    ok = stage.p99_ms < TARGET_P99_MS and stage.failed == 0
    print(
        f"target: {'PASS' if ok else 'FAIL'}: p99 {stage.p99_ms:.1f} ms at {stage.pages:,} pages "
        f"(needs < {TARGET_P99_MS:.0f} ms), failed requests {stage.failed} (needs 0)"
    )
    return ok


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    copies = csv_of(int, lambda n: 1 <= n <= 40)
    parser.add_argument("--copies", type=copies, default=[1, 10], help="stages, e.g. 1,10")
    parser.add_argument("--requests", type=int, default=1000, help="measured per stage")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per stage")
    parser.add_argument(
        "--concurrency",
        type=int,
        choices=range(1, 65),
        default=1,
        metavar="N",
        help="client tasks sending requests at once",
    )
    parser.add_argument(
        "--limit",
        type=int,
        choices=range(1, 51),
        default=10,
        metavar="N",
        help="hits asked for per request",
    )
    parser.add_argument(
        "--pages-per-pdf",
        type=int,
        choices=range(1, 2001),
        default=500,
        metavar="N",
        help="abstracts per uploaded PDF",
    )
    parser.add_argument(
        "--queries", type=Path, default=SCIFACT / "train-queries.tsv", help="claims (TSV)"
    )
    parser.add_argument("--seed", type=int, default=0, help="changes the query pool and order")
    parser.add_argument(
        "--ready-timeout", type=float, default=3600.0, help="seconds for a stage's ingest"
    )
    parser.add_argument("--json", type=Path, help="also write the machine and every stage here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target fails")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print(f"machine: {json.dumps(info)}")
    corpus = load_corpus()
    with scratch_dir("docquery-bench-search-latency-", keep=args.keep) as workdir:
        stages = run_stages(args, corpus, workdir)
    print_tables(stages, args)
    ok = check_target(stages)
    if args.json:
        report = {
            "machine": info,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "stages": [asdict(s) for s in stages],
            "target_ok": ok,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if args.strict and ok is False else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
