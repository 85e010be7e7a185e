"""Search quality benchmark: nDCG@10 and Recall@100 of GET /v1/search on SciFact.

Run from the repository root with the project environment active:

    python bench/search_quality.py                # the 809 SciFact train queries
    python bench/search_quality.py --queries q.tsv --qrels qrels.tsv --json out.json --strict

Corpus. The 5,183 SciFact abstracts (../shared/data/scifact/corpus.jsonl) become text PDFs of
--abstracts-per-pdf pages each (100: 52 PDFs), one abstract per page: its title, a blank line,
its text (bench/_search_corpus.py writes them; pypdf must read every page's words back before
the run starts). The script keeps which abstract is on which page, so a hit (document_id, page)
is an abstract. The PDFs are uploaded one after another to a fresh `docquery serve` (embedded
profile, no auth, no summaries, 2 extraction workers, 127.0.0.1, a random port); ingest time
runs from the first upload until every document is ready.

Queries. Every query of --queries with at least one relevant abstract in --qrels is sent as it
is, `GET /v1/search?q=...&limit=50`, then once more with the cursor it returned: the top 100
pages. Relevance is binary (qrels score > 0). nDCG@10 = DCG@10 / IDCG@10, where DCG is the sum
of rel_i / log2(i + 1) over ranks i = 1..10 and IDCG that of min(|relevant|, 10) relevant hits
ranked first; Recall@100 = relevant abstracts in the top 100 / |relevant|. Both are averaged
over the queries. A query answered with 4xx/5xx counts as no hits and is reported. Latency is
the client-side time of every search request (both pages), p50 and p99.

Reference: BM25 in Lucene on BEIR SciFact, flat index (title and text in one field), nDCG@10
0.679 and R@100 0.925 (Anserini's regression). Those are on the 300 test queries, the default
here is the 809 train queries (same corpus, same kind of claim): the ratio is close to like
for like, not exactly. Target: nDCG@10 / 0.679 >= 0.97 and no failed request. It prints
PASS/FAIL; only --strict turns FAIL into exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from _search_corpus import (
    SCIFACT,
    Abstract,
    Ingested,
    Service,
    build_batches,
    ingest,
    load_corpus,
    load_qrels,
    load_queries,
    machine,
    percentile,
    scratch_dir,
    start_service,
)
from upload import BenchError

REFERENCE_NDCG = 0.679
REFERENCE_RECALL = 0.925
TARGET_RATIO = 0.97
PAGE_SIZE = 50
DEPTH = 100
EXAMPLES = 5


@dataclass
class QueryResult:
    query_id: str
    text: str
    relevant: list[str]
    ranked: list[str]  # abstract doc ids, best first, at most DEPTH
    ndcg_10: float
    recall_100: float
    error: str | None = None  # "status: body" of a failed request


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:10], 1) if doc in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    return dcg / ideal


def recall_at_100(ranked: list[str], relevant: set[str]) -> float:
    return len(relevant.intersection(ranked[:DEPTH])) / len(relevant)


def run_query(
    client: httpx.Client,
    service: Service,
    pages: dict[tuple[str, int], str],
    text: str,
    latencies: list[float],
) -> tuple[list[str], str | None]:
    """The query's top DEPTH abstracts (first hit of each), and its failed request if any."""
    ranked: list[str] = []
    params: dict[str, str | int] = {"q": text, "limit": PAGE_SIZE}
    while len(ranked) < DEPTH:
        started = time.perf_counter()
        response = client.get(f"{service.url}/v1/search", params=params)
        latencies.append(time.perf_counter() - started)
        if response.status_code >= 400:
            return ranked, f"{response.status_code}: {response.text[:300]}"
        answer = response.json()
        for hit in answer["hits"]:
            doc = pages[(hit["document_id"], hit["page"])]
            if doc not in ranked:
                ranked.append(doc)
        if not answer["next_cursor"] or not answer["hits"]:
            break
        params["cursor"] = answer["next_cursor"]
    return ranked[:DEPTH], None


@dataclass
class Report:
    queries: int
    ndcg_10: float
    recall_100: float
    ratio: float
    failed_queries: int
    requests: int
    p50_ms: float
    p99_ms: float
    documents: int
    pages: int
    upload_s: float
    ingest_s: float
    ingest_pages_per_s: float
    replaced_chars: dict[str, int]
    target_ok: bool


def summarise(
    results: list[QueryResult], latencies: list[float], ingested: Ingested, replaced: Counter[str]
) -> Report:
    ndcg = statistics.fmean(r.ndcg_10 for r in results)
    failed = sum(1 for r in results if r.error)
    return Report(
        queries=len(results),
        ndcg_10=ndcg,
        recall_100=statistics.fmean(r.recall_100 for r in results),
        ratio=ndcg / REFERENCE_NDCG,
        failed_queries=failed,
        requests=len(latencies),
        p50_ms=1000 * percentile(latencies, 0.5),
        p99_ms=1000 * percentile(latencies, 0.99),
        documents=len(ingested.document_ids),
        pages=ingested.pages,
        upload_s=ingested.upload_seconds,
        ingest_s=ingested.seconds,
        ingest_pages_per_s=ingested.pages_per_s,
        replaced_chars=dict(replaced.most_common()),
        target_ok=ndcg / REFERENCE_NDCG >= TARGET_RATIO and failed == 0,
    )


def print_report(report: Report, results: list[QueryResult], titles: dict[str, str]) -> None:
    replaced = sum(report.replaced_chars.values())
    print()
    print("| Metric | docquery | BM25 Lucene (flat) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| nDCG@10 | {report.ndcg_10:.3f} | {REFERENCE_NDCG:.3f} | {report.ratio:.3f} |")
    print(
        f"| Recall@100 | {report.recall_100:.3f} | {REFERENCE_RECALL:.3f} "
        f"| {report.recall_100 / REFERENCE_RECALL:.3f} |"
    )
    print()
    print("| Queries | failed (4xx/5xx) | requests | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {report.queries} | {report.failed_queries} | {report.requests} "
        f"| {report.p50_ms:.1f} | {report.p99_ms:.1f} |"
    )
    print()
    print("| Documents | pages | upload s | ingest s (until all ready) | pages/s |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {report.documents} | {report.pages} | {report.upload_s:.1f} | {report.ingest_s:.1f} "
        f"| {report.ingest_pages_per_s:.0f} |"
    )
    print()
    print(f"characters replaced in the PDFs: {replaced} ({report.replaced_chars})")
    print_misses(results, titles)
    verdict = "PASS" if report.target_ok else "FAIL"
    print(
        f"target: {verdict}: nDCG@10 / {REFERENCE_NDCG} = {report.ratio:.3f} "
        f"(needs >= {TARGET_RATIO}), failed queries {report.failed_queries} (needs 0)"
    )


def print_misses(results: list[QueryResult], titles: dict[str, str]) -> None:
    """A few queries without a relevant abstract in their top 10, and failed requests."""
    for result in [r for r in results if r.error][:EXAMPLES]:
        print(f"failed: q{result.query_id} {result.text!r}: {result.error}")
    misses = [r for r in results if r.ndcg_10 == 0 and not r.error]
    print(f"\nqueries with no relevant abstract in the top 10: {len(misses)}; the first few:")
    for result in misses[:EXAMPLES]:
        print(f"- q{result.query_id}: {result.text}")
        for doc in result.relevant:
            rank = result.ranked.index(doc) + 1 if doc in result.ranked else None
            where = f"rank {rank}" if rank else f"not in the top {DEPTH}"
            print(f"    relevant {doc} ({where}): {titles[doc][:100]}")
        if result.ranked:
            print(f"    ranked 1st {result.ranked[0]}: {titles[result.ranked[0]][:100]}")
    print()


def evaluate(
    args: argparse.Namespace, corpus: list[Abstract], workdir: Path
) -> tuple[Report, list[QueryResult]]:
    """Build the PDFs, ingest them into a fresh server, run every judged query."""
    queries = load_queries(args.queries)
    qrels = load_qrels(args.qrels)
    judged = {qid: text for qid, text in queries.items() if qrels.get(qid)}
    if not judged:
        raise BenchError(f"no query of {args.queries} has a relevant abstract in {args.qrels}")
    replaced: Counter[str] = Counter()
    print(f"writing {len(corpus)} abstracts as PDFs and reading them back ...", flush=True)
    batches = build_batches(corpus, args.abstracts_per_pdf, name="scifact", replaced=replaced)
    with contextlib.ExitStack() as stack, httpx.Client(timeout=120) as client:
        service = start_service(stack, workdir, extract_workers=2)
        print(f"ingesting {len(batches)} PDFs ...", flush=True)
        ingested = ingest(client, service, batches, timeout=args.ready_timeout)
        pages = {
            (document_id, number): doc
            for document_id, batch in zip(ingested.document_ids, batches, strict=True)
            for number, doc in enumerate(batch.doc_ids, start=1)
        }
        print(f"running {len(judged)} queries ...", flush=True)
        latencies: list[float] = []
        results = []
        for qid, text in judged.items():
            ranked, error = run_query(client, service, pages, text, latencies)
            relevant = qrels[qid]
            results.append(
                QueryResult(
                    query_id=qid,
                    text=text,
                    relevant=sorted(relevant),
                    ranked=ranked,
                    ndcg_10=ndcg_at_10(ranked, relevant),
                    recall_100=recall_at_100(ranked, relevant),
                    error=error,
                )
            )
    return summarise(results, latencies, ingested, replaced), results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--queries", type=Path, default=SCIFACT / "train-queries.tsv", help="id<TAB>text TSV"
    )
    parser.add_argument(
        "--qrels", type=Path, default=SCIFACT / "train-qrels.tsv", help="query<TAB>doc<TAB>score"
    )
    parser.add_argument(
        "--abstracts-per-pdf",
        type=int,
        choices=range(1, 2001),
        default=100,
        metavar="N",
        help="pages per uploaded PDF",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=900.0, help="seconds for the ingest to finish"
    )
    parser.add_argument("--json", type=Path, help="also write the report and every query here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target fails")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print(f"machine: {json.dumps(info)}")
    corpus = load_corpus()
    with scratch_dir("docquery-bench-search-quality-", keep=args.keep) as workdir:
        report, results = evaluate(args, corpus, workdir)
    print_report(report, results, {abstract.doc_id: abstract.title for abstract in corpus})
    if args.json:
        out = {
            "machine": info,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "report": asdict(report),
            "queries": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 1 if args.strict and not report.target_ok else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
