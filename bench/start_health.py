"""aws profile start: when /healthz answers, when /readyz does, and health checks in between.

Run from the repository root with the dev environment active (moto[server] is a dev extra):

    python bench/start_health.py --pages 5000             # 10 pages a document

A moto server (a process of its own, 127.0.0.1) gets a bucket and table from `docquery init`,
then a library of --pages pages: per document its record (PutItem of the item
DynamoDbDocumentStore writes: ready, summary disabled) and its pages.json, all the start-up
build reads. Then `docquery serve` starts on the aws profile and the clock runs from its spawn:
`listen` is the first 200 from /healthz (what the container health check asks), `ready` the first
200 from /readyz (the search index copy is built). Between the two, `docquery healthcheck` runs
back to back (a fresh process each, this machine's compiled standard library), as the container
runtime would run it while the task builds its index.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from _search_corpus import scratch_dir
from docquery.adapters.aws.dynamodb_items import serialize, to_item
from docquery.domain.documents import Document, DocumentStatus, new_document_id
from docquery.domain.processing import Page, SummaryStatus
from docquery.services import artifacts
from docquery.settings import Settings
from docquery.wiring import open_aws_clients, open_services
from upload import BIN_DIR, aws_env, docquery_init, free_port, spawn, start_moto

OWNER = "bench"  # upload.aws_env's only API key owner: the build reads this owner's records
WORDS_PER_PAGE = 200  # about a clinical abstract
WRITERS = 16


def page_text(number: int) -> str:
    words = " ".join(f"term{(number * 13 + i) % 4093}" for i in range(WORDS_PER_PAGE))
    return f"Page {number} marker{number}. {words}"


def record(number: int, pages: int) -> Document:
    now = datetime.now(UTC)
    document_id = new_document_id()
    return Document(
        id=document_id,
        owner=OWNER,
        title=f"Start bench document {number}",
        filename=f"start-{number}.pdf",
        content_type="application/pdf",
        size=1000 * pages,
        sha256=hashlib.sha256(str(number).encode()).hexdigest(),
        blob_key=f"documents/{document_id}/original.pdf",
        tags=(),
        status=DocumentStatus.READY,
        created_at=now,
        updated_at=now,
        page_count=pages,
        summary_status=SummaryStatus.DISABLED,
        work_state=None,
    )


async def write_library(settings: Settings, documents: int, per_document: int) -> None:
    slots = asyncio.Semaphore(WRITERS)
    async with (
        open_services(settings, pipeline=False) as services,
        open_aws_clients(settings) as clients,
    ):

        async def one(number: int) -> None:
            first = number * per_document
            pages = [Page(n + 1, page_text(first + n)) for n in range(per_document)]
            document = record(number, per_document)
            async with slots:
                await artifacts.save_reading(
                    services.blobs,
                    document.id,
                    [artifacts.reading_of_text(p.number, p.text) for p in pages],
                )
                item = serialize(to_item(document))
                await clients.dynamodb.put_item(TableName=settings.dynamodb_table, Item=item)

        await asyncio.gather(*(one(n) for n in range(documents)))


def storage_settings(env: dict[str, str], data_dir: Path) -> Settings:
    values: dict[str, Any] = {
        "profile": "aws",
        "data_dir": data_dir,
        "aws_endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_region": env["AWS_REGION"],
        "s3_bucket": env["S3_BUCKET"],
        "dynamodb_table": env["DYNAMODB_TABLE"],
        "language_model": "disabled",
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def healthcheck_seconds(url: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN_DIR / "docquery"), "healthcheck", "--url", f"{url}/healthz"],
        env=env,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        print(f"healthcheck failed after {elapsed:.2f} s", flush=True)
    return elapsed


def measure(workdir: Path, pages: int, per_document: int) -> None:
    with contextlib.ExitStack() as stack:
        endpoint, _ = start_moto(stack, workdir)
        env, _ = aws_env(workdir, endpoint)
        env |= {"DOCQUERY_DATA_DIR": str(workdir / "data"), "DOCQUERY_LANGUAGE_MODEL": "disabled"}
        env |= {"LOG_LEVEL": "WARNING"}
        docquery_init(workdir, env)
        documents = -(-pages // per_document)
        started = time.perf_counter()
        # This process writes the library itself, with moto's dummy credentials.
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        settings = storage_settings(env, workdir / "write")
        asyncio.run(write_library(settings, documents, per_document))
        print(f"{documents * per_document} pages written in {time.perf_counter() - started:.0f} s")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [str(BIN_DIR / "docquery"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        spawned = time.perf_counter()
        spawn(stack, "server", cmd, env, workdir)
        while status(f"{url}/healthz") != 200:
            time.sleep(0.05)
        listen = time.perf_counter() - spawned
        checks = []
        while status(f"{url}/readyz") != 200:
            checks.append(healthcheck_seconds(url, env))
        ready = time.perf_counter() - spawned
        print(f"listen {listen:.2f} s, ready {ready:.1f} s after spawn")
        if checks:
            ms = sorted(c * 1000 for c in checks)
            print(
                f"healthcheck during the build: n={len(ms)} median={statistics.median(ms):.0f} ms"
                f" p90={ms[round(0.9 * (len(ms) - 1))]:.0f} ms max={ms[-1]:.0f} ms"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--pages-per-document", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    with scratch_dir("docquery-bench-start-health-", keep=args.keep) as workdir:
        measure(workdir, args.pages, args.pages_per_document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
