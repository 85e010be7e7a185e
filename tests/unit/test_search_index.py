"""SqliteSearchIndex on its own: scored in worker processes over rowid ranges, the ranking is
exactly the one a single scan gives; owners never see each other's pages."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docquery.adapters.local.search import SqliteSearchIndex
from docquery.adapters.local.search_sql import search_documents
from docquery.domain.processing import Page
from docquery.domain.search import SearchableDocument, SearchFilters, SearchQuery
from docquery.services.search_query import parse_query
from support import corpus

QUERIES = [
    "stem cells differentiate",
    "vitamin D deficiency increases the risk",
    '"blood pressure" -mice',
    "inflammation",
    "the of and",
]


def document(n: int, owner: str = "alice") -> SearchableDocument:
    return SearchableDocument(
        id=f"doc{n}",
        owner=owner,
        title=f"Library part {n}",
        tags=("even",) if n % 2 == 0 else ("odd",),
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n),
    )


@pytest.fixture(scope="module")
def abstracts() -> list[str]:
    return corpus.abstracts(1200)


@pytest.fixture
async def indexes(
    tmp_path: Path, abstracts: list[str]
) -> AsyncIterator[tuple[SqliteSearchIndex, ...]]:
    path = tmp_path / "search.sqlite3"
    writer = SqliteSearchIndex(path, workers=0)
    await writer.open()
    for n in range(12):
        await writer.replace(
            document(n),
            [Page(i + 1, text) for i, text in enumerate(abstracts[n * 100 : n * 100 + 100])],
        )
    await writer.replace(document(99, owner="bob"), [Page(1, abstracts[0]), Page(2, abstracts[1])])
    sharded = SqliteSearchIndex(path, workers=3)
    await sharded.open()
    yield writer, sharded
    await sharded.close()
    await writer.close()


@pytest.mark.parametrize("text", QUERIES)
async def test_sharded_scoring_ranks_exactly_as_one_scan(
    indexes: tuple[SqliteSearchIndex, ...], text: str
) -> None:
    single, sharded = indexes
    for offset, filters in [
        (0, SearchFilters()),
        (37, SearchFilters()),
        (0, SearchFilters(tags=("even",))),
        (5, SearchFilters(document_ids=("doc3", "doc4"))),
    ]:
        query = SearchQuery(
            owner="alice", terms=parse_query(text), filters=filters, limit=20, offset=offset
        )
        one, many = await single.search(query), await sharded.search(query)
        assert many == one
        assert {hit.document_id for hit in one.hits} <= {f"doc{n}" for n in range(12)}
        scores = [hit.score for hit in one.hits]
        assert scores == sorted(scores, reverse=True)


async def test_another_owner_is_never_scored(indexes: tuple[SqliteSearchIndex, ...]) -> None:
    _, sharded = indexes
    terms = parse_query(QUERIES[1])
    bobs = await sharded.search(
        SearchQuery(owner="bob", terms=terms, filters=SearchFilters(), limit=50)
    )
    assert {hit.document_id for hit in bobs.hits} <= {"doc99"}
    nobody = await sharded.search(
        SearchQuery(owner="carol", terms=terms, filters=SearchFilters(), limit=5)
    )
    assert nobody.hits == []
    assert not nobody.has_more


async def test_a_worker_that_dies_costs_no_search(
    indexes: tuple[SqliteSearchIndex, ...],
) -> None:
    single, sharded = indexes
    query = SearchQuery(
        owner="alice", terms=parse_query(QUERIES[0]), filters=SearchFilters(), limit=10
    )
    expected = await single.search(query)
    assert await sharded.search(query) == expected
    pool = sharded._workers._pool
    assert pool is not None
    for process in list(pool._processes.values()):  # as the OOM killer would
        process.kill()
        process.join()
    assert await sharded.search(query) == expected  # scored in the server meanwhile
    assert await sharded.search(query) == expected  # and by a new pool of workers
    assert sharded._workers._pool is not None
    assert sharded._workers._pool is not pool


@pytest.mark.parametrize("text", QUERIES)
async def test_documents_grouped_from_the_top_pages_match_grouping_every_match(
    indexes: tuple[SqliteSearchIndex, ...], tmp_path: Path, text: str
) -> None:
    single, sharded = indexes
    conn = sqlite3.connect(tmp_path / "search.sqlite3")
    conn.row_factory = sqlite3.Row
    for offset, limit, filters in [
        (0, 5, SearchFilters()),
        (3, 4, SearchFilters()),
        (0, 10, SearchFilters(tags=("odd",))),
    ]:
        query = SearchQuery(
            owner="alice", terms=parse_query(text), filters=filters, limit=limit, offset=offset
        )
        every_match = search_documents(conn, query, 3)
        assert await single.search_documents(query, pages_per_document=3) == every_match
        assert await sharded.search_documents(query, pages_per_document=3) == every_match
    conn.close()
