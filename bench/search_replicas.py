"""aws: two app instances on one table; how long a change made in one takes to be searchable
in the other (the change feed's lag).

Run from the repository root with the dev environment active (moto[server] is a dev extra):

    python bench/search_replicas.py                      # 100 changes, 1 s feed poll
    python bench/search_replicas.py --changes 100 --poll-seconds 1 --json out.json

Two service instances (`open_services`, aws profile, as two ECS tasks' lifespans open them),
each with its own Tantivy copy, on one moto server (its own process on 127.0.0.1). For each
change: a ready record and its pages.json are written (as bench/search_start.py writes them),
instance A indexes the document (which publishes the change to the feed), and the clock runs
from A's write returning until a search in instance B for a word only that document holds
finds it, polled every 10 ms. Changes are made one after another. Reported: p50/p90/p99/max
of the lag. With SEARCH_POLL_SECONDS = p, the lag is up to p plus the time B takes to read
the record and pages and commit them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path

from _search_corpus import machine, percentile, scratch_dir
from docquery.adapters.aws.provision import ensure_bucket, ensure_table
from docquery.domain.processing import Page
from docquery.domain.search import SearchFilters, SearchQuery, searchable
from docquery.services import artifacts
from docquery.settings import Settings
from docquery.text.query import parse_query
from docquery.wiring import Services, open_aws_clients, open_services
from search_start import OWNER, record, settings_for
from upload import start_moto


async def ready(services: Services) -> None:
    while True:
        try:
            await services.search_index.check()
            return
        except Exception:
            await asyncio.sleep(0.1)


async def one_change(a: Services, b: Services, number: int) -> float:
    word = f"replicaword{number}x"
    document = record(number, 1)
    pages = [Page(1, f"Change {number}: {word} appears on this page only.")]
    await artifacts.save_reading(
        a.blobs, document.id, [artifacts.reading_of_text(1, pages[0].text)]
    )
    await a.documents.create(document)
    await a.search_index.replace(searchable(document), pages)
    written = time.perf_counter()
    query = SearchQuery(OWNER, parse_query(word), SearchFilters(), limit=1)
    while True:
        if (await b.search_index.search(query)).hits:
            return time.perf_counter() - written
        await asyncio.sleep(0.01)


async def run(args: argparse.Namespace, endpoint: str, workdir: Path) -> list[float]:
    base = settings_for(endpoint, workdir / "a", secrets.token_hex(4))
    settings: dict[str, Settings] = {
        name: base.model_copy(
            update={"data_dir": workdir / name, "search_poll_seconds": args.poll_seconds}
        )
        for name in ("a", "b")
    }
    async with open_aws_clients(base) as clients:
        await ensure_bucket(clients.s3, bucket=base.s3_bucket, region="us-east-1", kms_key_id=None)
        await ensure_table(clients.dynamodb, table=base.dynamodb_table)
    async with open_services(settings["a"]) as a, open_services(settings["b"]) as b:
        await asyncio.gather(ready(a), ready(b))
        lags = []
        for number in range(args.changes):
            lags.append(await one_change(a, b, number))
    return lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    os.environ |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    with (
        scratch_dir("docquery-search-replicas-", keep=False) as workdir,
        contextlib.ExitStack() as stack,
    ):
        endpoint, _ = start_moto(stack, workdir)
        lags = asyncio.run(run(args, endpoint, workdir))
    result = {
        "machine": machine(),
        "changes": len(lags),
        "poll_seconds": args.poll_seconds,
        "lag_ms": {
            name: round(percentile(lags, q) * 1000)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
