"""aws start-up index build: how long a new task takes to build its search index copy.

Run from the repository root with the dev environment active (moto[server] is a dev extra):

    python bench/search_start.py                   # 5,000 and 50,000 pages, 10 pages a document
    python bench/search_start.py --pages 5000,50000 --pages-per-document 10 --json out.json

What is timed. On the aws profile every task builds its own copy of the search index at start
(ReplicatedSearchIndex -> services/reindex.py: list the configured owners' records 100 at a
time; for each document, 8 at once, GetItem of its record and GetObject of its pages.json; the
pages into the Tantivy index), and /readyz answers 503 `search_index` until it is built. A stage
opens the services as the app's lifespan does (`open_services`, aws profile, pipeline on, language
model disabled) and runs the clock from just before that until `search_index.check()` (what
/readyz asks) first passes, polled every --poll seconds, like a load balancer's health check.

The library is written directly through the adapters, not by uploading PDFs: per document a
record (the item DynamoDbDocumentStore.create writes, put by PutItem: status ready, summary
disabled, no work outstanding) and
its pages.json (services/artifacts.save_reading), which is all the build reads; the original PDF
bytes are not stored (the build never reads them). Page texts: the SciFact abstracts
(../shared/data/scifact/corpus.jsonl; title, blank line, text, as bench/_search_corpus.py writes
them), one per page, copy k > 0 with a line `corpuscopyK` above each title as in
bench/search_latency.py. Documents of --pages-per-document pages, all of one owner; each stage
adds documents until the library holds its page count. S3 and DynamoDB are a moto server in a
process of its own on 127.0.0.1 (not the real services: their latency differs, see the doc).

Reported per stage: pages, documents, seconds from opening the services to ready, of which
opening the clients, pages/s and documents/s of the whole, the index's size, this
process's peak RSS, and the build's retried steps (moto failing a request; 0 in a clean run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import resource
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _search_corpus import SCIFACT, Abstract, load_corpus, machine, page_text, scratch_dir
from docquery.adapters.aws.dynamodb_items import serialize, to_item
from docquery.adapters.aws.provision import ensure_bucket, ensure_table
from docquery.domain.documents import Document, DocumentStatus, new_document_id
from docquery.domain.processing import Page, SummaryStatus
from docquery.services import artifacts
from docquery.services.auth import digest_key
from docquery.settings import Settings
from docquery.wiring import Services, open_aws_clients, open_services
from upload import start_moto

OWNER = "bench"
WRITE_CONCURRENCY = 16


class Retries(logging.Handler):
    """Counts the build's retried steps (a store error; they would make the figure worse)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "search.rebuild_retry":
            self.count += 1


RETRIES = Retries()


@dataclass
class Stage:
    pages: int
    documents: int
    open_s: float
    ready_s: float
    pages_per_s: float
    documents_per_s: float
    index_mib: float
    peak_rss_mib: float
    write_s: float
    retries: int


def settings_for(endpoint: str, data_dir: Path, suffix: str) -> Settings:
    values: dict[str, Any] = {
        "profile": "aws",
        "data_dir": data_dir,
        "auth": "api_key",
        "api_keys": {OWNER: digest_key("dq_" + secrets.token_urlsafe(32))},
        "secret_key": secrets.token_urlsafe(48),
        "aws_endpoint_url": endpoint,
        "aws_region": "us-east-1",
        "s3_bucket": f"bench-{suffix}",
        "dynamodb_table": f"bench-{suffix}",
        "language_model": "disabled",
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def page_texts(corpus: list[Abstract]) -> itertools.chain[str]:
    """SciFact abstracts as page texts, copy after copy, each copy marked (after the first)."""
    return itertools.chain.from_iterable(
        (page_text(a, f"corpuscopy{copy}" if copy else "") for a in corpus)
        for copy in itertools.count()
    )


def record(number: int, pages: int) -> Document:
    now = datetime.now(UTC)
    document_id = new_document_id()
    return Document(
        id=document_id,
        owner=OWNER,
        title=f"Bench document {number}",
        filename=f"bench-{number}.pdf",
        content_type="application/pdf",
        size=1000 * pages,
        sha256=hashlib.sha256(f"{number}".encode()).hexdigest(),
        blob_key=f"documents/{document_id}/original.pdf",
        tags=(),
        status=DocumentStatus.READY,
        created_at=now,
        updated_at=now,
        page_count=pages,
        summary_status=SummaryStatus.DISABLED,
        work_state=None,
    )


async def add_documents(
    services: Services,
    client: Any,
    texts: itertools.chain[str],
    first: int,
    count: int,
    per_document: int,
) -> None:
    """`count` ready documents with their pages.json, numbered from `first`."""
    slots = asyncio.Semaphore(WRITE_CONCURRENCY)
    table = services.settings.dynamodb_table

    async def one(number: int) -> None:
        pages = [Page(n + 1, next(texts)) for n in range(per_document)]
        document = record(number, per_document)
        async with slots:
            await artifacts.save_reading(
                services.blobs,
                document.id,
                [artifacts.reading_of_text(p.number, p.text) for p in pages],
            )
            # The record's item exactly as DynamoDbDocumentStore.create writes it, by PutItem:
            # create's TransactWriteItems also writes the sha256 item (the build never reads
            # it), and moto copies the whole table for every transaction (quadratic at 5,000).
            await client.put_item(TableName=table, Item=serialize(to_item(document)))

    await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def time_to_ready(settings: Settings, poll: float) -> tuple[float, float, float]:
    """Seconds to open the services and to a passing readiness check; the index's MiB."""
    started = time.perf_counter()
    async with open_services(settings, pipeline=True) as services:
        opened = time.perf_counter() - started
        while True:
            try:
                await services.search_index.check()
                break
            except Exception:
                await asyncio.sleep(poll)
        ready = time.perf_counter() - started
        index_files = [p for p in settings.data_dir.glob("search-*/**/*") if p.is_file()]
        index_mib = sum(path.stat().st_size for path in index_files) / 2**20
    return opened, ready, index_mib


async def run(args: argparse.Namespace, endpoint: str, workdir: Path) -> list[Stage]:
    settings = settings_for(endpoint, workdir / "data", secrets.token_hex(4))
    async with open_aws_clients(settings) as clients:
        await ensure_bucket(
            clients.s3, bucket=settings.s3_bucket, region="us-east-1", kms_key_id=None
        )
        await ensure_table(clients.dynamodb, table=settings.dynamodb_table)
    texts = page_texts(load_corpus(args.corpus))
    stages, documents = [], 0
    for target in args.pages:
        wanted = -(-target // args.pages_per_document) - documents
        print(f"writing {wanted} documents of {args.pages_per_document} pages ...", flush=True)
        write_started = time.perf_counter()
        async with (
            open_services(settings.model_copy(update={"pipeline_enabled": False})) as s,
            open_aws_clients(settings) as clients,
        ):
            await add_documents(
                s, clients.dynamodb, texts, documents, wanted, args.pages_per_document
            )
        write_s = time.perf_counter() - write_started
        documents += wanted
        pages = documents * args.pages_per_document
        print(
            f"{pages} pages written in {write_s:.0f} s; timing the start-up build ...", flush=True
        )
        RETRIES.count = 0
        opened, ready, index_mib = await time_to_ready(settings, args.poll)
        stage = Stage(
            pages=pages,
            documents=documents,
            open_s=round(opened, 3),
            ready_s=round(ready, 2),
            pages_per_s=round(pages / ready),
            documents_per_s=round(documents / ready, 1),
            index_mib=round(index_mib, 1),
            peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            write_s=round(write_s),
            retries=RETRIES.count,
        )
        print(json.dumps(asdict(stage)), flush=True)
        stages.append(stage)
    return stages


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=lambda s: [int(p) for p in s.split(",")], default=[5000, 50000]
    )
    parser.add_argument("--pages-per-document", type=int, default=10)
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between readiness checks")
    parser.add_argument("--corpus", type=Path, default=SCIFACT / "corpus.jsonl")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("docquery").addHandler(RETRIES)
    # moto speaks whatever credentials it is given; never the caller's real ones.
    os.environ |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    os.environ |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    with (
        scratch_dir("docquery-search-start-", keep=args.keep) as workdir,
        contextlib.ExitStack() as stack,
    ):
        endpoint, _ = start_moto(stack, workdir)
        stages = asyncio.run(run(args, endpoint, workdir))
    result = {
        "machine": machine(),
        "pages_per_document": args.pages_per_document,
        "stages": [asdict(s) for s in stages],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
