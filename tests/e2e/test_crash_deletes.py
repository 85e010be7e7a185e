"""kill -9 under concurrent uploads and deletes: after a restart every document is whole or gone,
and no stored byte is without a record that can find it (issue 9, items 7 and 8)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import tantivy
from test_crash_recovery import Server, free_port, wait_until

from docquery.domain.documents import utcnow
from docquery.services import deletes
from docquery.settings import Settings
from docquery.wiring import open_services
from support.bad_pdfs import document_pdf

pytestmark = pytest.mark.slow

SEED = 20261129


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def records(data_dir: Path) -> dict[str, str | None]:
    """Every record in the database, hidden ones too, with its work state."""
    with sqlite3.connect(f"file:{data_dir / 'docquery.sqlite3'}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT id, work_state FROM documents").fetchall())


def blob_folders(data_dir: Path) -> set[str]:
    folder = data_dir / "blobs" / "documents"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def indexed(data_dir: Path) -> set[str]:
    """Every document the search index (each owner's, as last committed) holds."""
    found: set[str] = set()
    for owner_file in (data_dir / "search").glob("*/owner"):
        searcher = tantivy.Index.open(str(owner_file.parent)).searcher()
        hits = searcher.search(tantivy.Query.all_query(), max(1, searcher.num_docs)).hits
        found.update(str(searcher.doc(address)["document_id"][0]) for _, address in hits)
    return found


class Uploaders:
    """Threads that upload unique PDFs until the server dies under them."""

    def __init__(self, url: str, count: int, *, first: int) -> None:
        self._url = url
        self._next = first
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(count)]

    def __enter__(self) -> Uploaders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                with self._lock:
                    n, self._next = self._next, self._next + 1
                content = document_pdf([f"Upload number {n}. " + "Ferritin was low. " * 40])
                try:
                    client.post(
                        f"{self._url}/v1/documents",
                        files={"file": (f"u{n}.pdf", content, "application/pdf")},
                    )
                except httpx.HTTPError:
                    return  # the server was killed


def assert_every_listed_document_is_whole(url: str) -> list[str]:
    listed = _documents(url)
    for item in listed:
        content = httpx.get(f"{url}/v1/documents/{item['id']}/content", timeout=10)
        assert content.status_code == 200, item["id"]
        assert hashlib.sha256(content.content).hexdigest() == item["sha256"]
    return [item["id"] for item in listed]


async def sweep_overdue_reservations(data_dir: Path) -> int:
    """What the sweeper does once the reservations of the killed uploads are overdue."""
    settings = Settings(_env_file=None, data_dir=data_dir, pipeline_enabled=False)  # type: ignore[call-arg]
    async with open_services(settings) as services:
        return await deletes.sweep_hidden(
            now=utcnow() + timedelta(hours=1),
            limit=1000,
            documents=services.documents,
            blobs=services.blobs,
            index=services.search_index,
        )


def test_kill_9_during_concurrent_uploads_leaves_no_bytes_without_a_record(
    data_dir: Path,
) -> None:
    rng = random.Random(SEED)  # noqa: S311 - timing, not security
    for round_number in range(5):
        server = Server(data_dir, free_port())
        try:
            with Uploaders(server.url, 6, first=round_number * 10_000):
                time.sleep(rng.uniform(0.2, 1.5))
                server.kill()
        finally:
            server.stop()
        # Straight after the kill: every stored folder has a record (a reservation, at least).
        assert blob_folders(data_dir) <= set(records(data_dir))
    server = Server(data_dir, free_port())
    try:
        # A kill leaves partial temporary files: patient data, cleared at start.
        assert list((data_dir / "tmp").glob("upload-*")) == []
        assert blob_folders(data_dir) <= set(records(data_dir))
        listed = assert_every_listed_document_is_whole(server.url)
        assert listed
    finally:
        server.stop()
    asyncio.run(sweep_overdue_reservations(data_dir))
    # The reservations are gone with their bytes: what is left is exactly the listed documents.
    assert all(state != "uploading" for state in records(data_dir).values())
    assert blob_folders(data_dir) == set(records(data_dir))
    assert set(records(data_dir)) == set(listed)


def delete_all(url: str, ids: list[str]) -> None:
    def one(document_id: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server was killed
            httpx.delete(f"{url}/v1/documents/{document_id}", timeout=10)

    threads = [threading.Thread(target=one, args=(document_id,)) for document_id in ids]
    for thread in threads:
        thread.start()


def test_kill_9_during_deletes_then_the_sweeper_finishes_them(data_dir: Path) -> None:
    rng = random.Random(SEED)  # noqa: S311 - timing, not security
    server = Server(data_dir, free_port())
    words = {}
    try:
        for n in range(30):
            content = document_pdf([f"Marker zqx{n}word appears here. " + "Sodium normal. " * 30])
            response = httpx.post(
                f"{server.url}/v1/documents",
                files={"file": (f"d{n}.pdf", content, "application/pdf")},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            words[response.json()["id"]] = f"zqx{n}word"
        wait_until(
            lambda: all(
                (r["status"], r["summary_status"]) == ("ready", "ready")
                for r in _documents(server.url)
            ),
            timeout=120,
            what="every document to be ready",
        )
    finally:
        server.stop()
    interrupted = 0
    for _ in range(6):
        server = Server(data_dir, free_port())
        try:
            remaining = [d for d, state in records(data_dir).items() if state is None]
            delete_all(server.url, remaining)
            time.sleep(rng.uniform(0.01, 0.15))
            server.kill()
        finally:
            server.stop()
        interrupted = sum(state == "deleting" for state in records(data_dir).values())
        if interrupted:
            break
    assert interrupted, "no kill landed in the middle of a delete"
    server = Server(data_dir, free_port())
    try:
        # The sweeper's first round, at start, finishes every delete the kill interrupted.
        wait_until(
            lambda: "deleting" not in records(data_dir).values(),
            timeout=30,
            what="the sweeper to finish the interrupted deletes",
        )
        assert_whole_or_gone(server.url, data_dir, words)
    finally:
        server.stop()


def _documents(url: str) -> list[dict[str, Any]]:
    """Every listed document, through every page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = httpx.get(f"{url}/v1/documents", params=params, timeout=10).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def assert_whole_or_gone(url: str, data_dir: Path, words: dict[str, str]) -> None:
    listed = {str(item["id"]) for item in _documents(url)}
    kept = set(records(data_dir))
    assert kept == listed
    assert blob_folders(data_dir) == kept
    assert indexed(data_dir) == kept
    for document_id, word in words.items():
        paths = ("", "/content", "/text")
        statuses = {
            httpx.get(f"{url}/v1/documents/{document_id}{p}", timeout=10).status_code for p in paths
        }
        hits = httpx.get(f"{url}/v1/search", params={"q": word}, timeout=10).json()["hits"]
        if document_id in kept:
            assert statuses == {200}
            assert [hit["document_id"] for hit in hits] == [document_id]
        else:
            assert statuses == {404}
            assert hits == []
