"""Search engines side by side, in one process: Tantivy (the service's) against FTS5 (before).

Run from the repository root with the project environment active:

    python bench/search_engines.py                        # 1 and 10 copies of SciFact
    python bench/search_engines.py --copies 1,10 --engines tantivy,fts5 --json out.json
    python bench/search_engines.py --copies 100 --engines tantivy --rounds 1   # 518,300 pages

Corpus. The 5,183 SciFact abstracts (../shared/data/scifact/corpus.jsonl), one abstract per page
(title, blank line, text), 10 pages to a document; copy k > 0 has a line `corpuscopyK` above
each title (as bench/search_latency.py writes them), generated on the fly. Each engine builds
its index in a fresh directory through the SearchIndex port, 16 documents written at once
(so the Tantivy adapter batches them into shared commits); build time gives pages/s, the
directory's size bytes per page.

Latency. The query pool of bench/search_latency.py (807 SciFact train claims, 100 short, 50
phrase and 50 exclusion queries: 1,007), `limit` 10 with snippets, one at a time, through the
adapter (no HTTP). --rounds rounds, engines interleaved within a round; p50/p90/p99 are the
medians over rounds of each round's percentiles. `group=document` (3 pages per document) is
measured the same way. RSS is this process's VmRSS after an engine's build and queries (the
engines are built one after the other, Tantivy first).

Quality (--quality): nDCG@10 on the SciFact train queries with the Tantivy adapter, each
abstract a document of its own titled with its title, its page the title, a blank line and
the text (as a PDF's first page shows them; the title field's boost is what this tunes), for
each --title-boosts value.

Targets: at the largest copy count of 10 or more, Tantivy's p99 <= 15 ms and at least 10x
below FTS5's; group=document p99 <= 30 ms; nDCG@10 >= 0.69.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from _fts5_index import SqliteSearchIndex
from _search_corpus import (
    SCIFACT,
    Abstract,
    dir_mib,
    load_corpus,
    load_qrels,
    load_queries,
    machine,
    page_text,
    percentile,
    rss_mib,
    scratch_dir,
)
from docquery.adapters.local import search_schema
from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.processing import Page
from docquery.domain.search import SearchableDocument, SearchFilters, SearchQuery
from docquery.errors import InvalidQuery
from docquery.text.query import parse_query
from search_latency import query_pool

PAGES_PER_DOCUMENT = 10
WRITERS = 16
OWNER = "bench"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


class Engine(Protocol):
    async def replace(self, document: SearchableDocument, pages: Sequence[Page]) -> None: ...
    async def search(self, query: SearchQuery) -> Any: ...
    async def search_documents(self, query: SearchQuery, *, pages_per_document: int) -> Any: ...
    async def close(self) -> None: ...


async def open_engine(name: str, folder: Path) -> Engine:
    engine: Engine
    if name == "tantivy":
        tantivy = TantivySearchIndex(folder)
        await tantivy.open()
        engine = tantivy
    else:
        await asyncio.to_thread(folder.mkdir, parents=True)
        fts5 = SqliteSearchIndex(folder / "search.sqlite3")
        await fts5.open()
        engine = fts5
    return engine


def documents(
    corpus: Sequence[Abstract], copy: int, first: int
) -> list[tuple[SearchableDocument, list[Page]]]:
    """Copy `copy` of the corpus as documents numbered from `first` (made copy by copy, so
    that 100 copies never sit in memory at once)."""
    made = []
    header = f"corpuscopy{copy}" if copy else ""
    for start in range(0, len(corpus), PAGES_PER_DOCUMENT):
        chunk = corpus[start : start + PAGES_PER_DOCUMENT]
        number = first + len(made)
        document = SearchableDocument(
            f"d{number:07d}",
            OWNER,
            f"scifact-{number:05d}",
            ("even",) if number % 2 == 0 else ("odd",),
            CREATED + timedelta(minutes=number),
        )
        pages = [Page(i + 1, page_text(a, header)) for i, a in enumerate(chunk)]
        made.append((document, pages))
    return made


async def build(engine: Engine, docs: Sequence[tuple[SearchableDocument, list[Page]]]) -> float:
    """Seconds to write every document, WRITERS at once."""
    started = time.perf_counter()
    queue = list(docs)

    async def writer() -> None:
        while queue:
            document, pages = queue.pop()
            await engine.replace(document, pages)

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return time.perf_counter() - started


async def timings(engine: Engine, queries: Sequence[str], *, grouped: bool) -> list[float]:
    times = []
    for text in queries:
        try:
            query = SearchQuery(OWNER, parse_query(text), SearchFilters(), limit=10)
        except InvalidQuery:
            continue
        started = time.perf_counter()
        if grouped:
            await engine.search_documents(query, pages_per_document=3)
        else:
            await engine.search(query)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(rounds: list[list[float]]) -> dict[str, float]:
    return {
        name: round(statistics.median(percentile(r, q) for r in rounds), 2)
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }


async def stage(
    args: argparse.Namespace, corpus: list[Abstract], copies: int, workdir: Path
) -> dict[str, Any]:
    per_copy = -(-len(corpus) // PAGES_PER_DOCUMENT)
    pages = len(corpus) * copies
    queries = [q.text for q in query_pool(corpus, list(load_queries(args.queries).values()), 0)]
    engines: dict[str, Engine] = {}
    result: dict[str, Any] = {"pages": pages, "engines": {}}
    for name in args.engines:
        folder = workdir / f"{name}-{copies}"
        engine = await open_engine(name, folder)
        seconds = 0.0
        for copy in range(copies):
            seconds += await build(engine, documents(corpus, copy, copy * per_copy))
        await timings(engine, queries[:50], grouped=False)  # warm-up
        engines[name] = engine
        result["engines"][name] = {
            "build_seconds": round(seconds, 1),
            "pages_per_second": round(pages / seconds),
            "index_mib": round(dir_mib(folder), 1),
            "bytes_per_page": round(dir_mib(folder) * 1024 * 1024 / pages),
        }
        print(f"{copies} copies, {name}: built {pages} pages in {seconds:.1f} s", flush=True)
    plain: dict[str, list[list[float]]] = {name: [] for name in engines}
    grouped: dict[str, list[list[float]]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            plain[name].append(await timings(engine, queries, grouped=False))
            grouped[name].append(await timings(engine, queries, grouped=True))
    for name, engine in engines.items():
        result["engines"][name] |= {
            "search_ms": summary(plain[name]),
            "grouped_ms": summary(grouped[name]),
            "queries": len(plain[name][0]),
        }
        await engine.close()
    result["rss_mib"] = round(rss_mib(os.getpid()), 1)
    return result


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal


async def quality(
    args: argparse.Namespace, corpus: list[Abstract], workdir: Path
) -> dict[str, float]:
    queries = load_queries(args.queries)
    qrels = load_qrels(args.qrels)
    index = TantivySearchIndex(workdir / "quality")
    await index.open()
    docs = [
        (SearchableDocument(a.doc_id, OWNER, a.title, (), CREATED), [Page(1, page_text(a))])
        for a in corpus
    ]
    await build(index, docs)
    scores = {}
    for boost in args.title_boosts:
        search_schema.TITLE_BOOST = boost
        values = []
        for query_id, relevant in qrels.items():
            if query_id not in queries:
                continue
            query = SearchQuery(OWNER, parse_query(queries[query_id]), SearchFilters(), limit=10)
            hits = (await index.search(query)).hits
            values.append(ndcg_at_10([h.document_id for h in hits], relevant))
        scores[str(boost)] = round(statistics.fmean(values), 4)
        print(
            f"title boost {boost}: nDCG@10 {scores[str(boost)]} ({len(values)} queries)", flush=True
        )
    await index.close()
    return scores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=lambda s: [int(n) for n in s.split(",")], default=[1, 10])
    parser.add_argument("--engines", type=lambda s: s.split(","), default=["tantivy", "fts5"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument(
        "--title-boosts",
        type=lambda s: [float(n) for n in s.split(",")],
        default=[search_schema.TITLE_BOOST],
    )
    parser.add_argument("--queries", type=Path, default=SCIFACT / "train-queries.tsv")
    parser.add_argument("--qrels", type=Path, default=SCIFACT / "train-qrels.tsv")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = load_corpus()
    report: dict[str, Any] = {"machine": machine(), "stages": []}
    with scratch_dir("docquery-bench-engines-", keep=args.keep) as workdir:
        if args.quality:
            report["ndcg_at_10"] = await quality(args, corpus, workdir)
        for copies in args.copies:
            report["stages"].append(await stage(args, corpus, copies, workdir))
            print(json.dumps(report["stages"][-1]), flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
