"""Search workers that cannot be made or started: the search is scored in the server, one warning
says why, and readiness tells the truth about an index that cannot answer."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any

import pytest

from docquery.adapters.local.search import SqliteSearchIndex
from docquery.adapters.local.search_workers import SearchWorkers
from docquery.domain.processing import Page
from docquery.domain.search import SearchableDocument, SearchFilters, SearchQuery
from docquery.errors import StoreUnavailable
from docquery.services.search_query import parse_query

QUERY = SearchQuery(
    owner="alice", terms=parse_query("heart failure"), filters=SearchFilters(), limit=10
)


class ReadOnlyShm(SpawnContext):
    """multiprocessing where /dev/shm is read-only: no lock (a POSIX semaphore) can be made."""

    def Lock(self) -> Any:  # noqa: N802 (multiprocessing's name)
        raise OSError(errno.EROFS, "Read-only file system")


class _Unstartable(SpawnProcess):
    def start(self) -> None:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")


class NoProcesses(SpawnContext):
    """multiprocessing that cannot start a process (a process limit reached, say)."""

    Process = _Unstartable


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[SqliteSearchIndex]:
    built = SqliteSearchIndex(tmp_path / "search.sqlite3", workers=0)
    await built.open()
    document = SearchableDocument(
        id="doc1", owner="alice", title="Cardiology", tags=(), created_at=datetime.now(UTC)
    )
    pages = [Page(1, "Chronic heart failure with reduced ejection fraction."), Page(2, "Other.")]
    await built.replace(document, pages)
    yield built
    await built.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.endswith("search_workers")]


@pytest.mark.parametrize(
    ("context", "error_type"),
    [(ReadOnlyShm(), "OSError"), (NoProcesses(), "BlockingIOError")],
    ids=["no_pool", "no_process"],
)
async def test_workers_that_cannot_start_leave_search_to_the_server_with_one_warning(
    index: SqliteSearchIndex,
    tmp_path: Path,
    context: SpawnContext,
    error_type: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    index._workers = SearchWorkers(tmp_path / "search.sqlite3", 2, context=context)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            hits = (await index.search(QUERY)).hits
            assert [(hit.document_id, hit.page) for hit in hits] == [("doc1", 1)]
        await index.check()  # it serves, so it is ready
    assert index._workers.count == 0  # given up: no pool is tried again
    [warning] = warnings_of(caplog)
    assert warning.getMessage() == "search.workers_unavailable"
    assert warning.__dict__["error_type"] == error_type


async def test_workers_that_start_score_the_ranges(
    tmp_path: Path, index: SqliteSearchIndex
) -> None:
    workers = SearchWorkers(tmp_path / "search.sqlite3", 2)
    try:
        parts = await workers.rank(QUERY, [(1, 1), (2, 2)], 10)
    finally:
        await workers.close()
    assert parts is not None
    assert [[rowid for rowid, _ in part] for part in parts] == [[1], []]
    assert workers.count == 2


async def test_readiness_fails_when_the_index_cannot_answer_a_search(
    index: SqliteSearchIndex, tmp_path: Path
) -> None:
    await index.check()
    conn = sqlite3.connect(tmp_path / "search.sqlite3")
    conn.execute("DROP TABLE page_text")  # the records of documents are still there
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable):
        await index.check()
