"""TantivySearchIndex on its own: grouping, owners' isolation (results and scores), batched
writes, and old segment files collected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.processing import Page
from docquery.domain.search import (
    DocumentHit,
    DocumentHitPage,
    SearchableDocument,
    SearchFilters,
    SearchQuery,
)
from docquery.services.search_query import parse_query
from support import corpus

QUERIES = [
    "stem cells differentiate",
    "vitamin D deficiency increases the risk",
    '"blood pressure" -mice',
    "inflammation",
    "the of and",
]


def document(n: int, owner: str = "alice", title: str | None = None) -> SearchableDocument:
    return SearchableDocument(
        id=f"doc{n}",
        owner=owner,
        title=title or f"Library part {n}",
        tags=("even",) if n % 2 == 0 else ("odd",),
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n),
    )


def pages(texts: list[str]) -> list[Page]:
    return [Page(i + 1, text) for i, text in enumerate(texts)]


@pytest.fixture(scope="module")
def abstracts() -> list[str]:
    return corpus.abstracts(1200)


@pytest.fixture
async def index(tmp_path: Path, abstracts: list[str]) -> AsyncIterator[TantivySearchIndex]:
    index = TantivySearchIndex(tmp_path / "search")
    await index.open()
    for n in range(12):
        await index.replace(document(n), pages(abstracts[n * 100 : n * 100 + 100]))
    await index.replace(document(99, owner="bob"), pages(abstracts[:2]))
    yield index
    await index.close()


def query(text: str, owner: str = "alice", **fields: object) -> SearchQuery:
    filters = fields.pop("filters", SearchFilters())
    return SearchQuery(owner=owner, terms=parse_query(text), filters=filters, **fields)  # type: ignore[arg-type]


async def test_another_owner_is_never_scored(index: TantivySearchIndex) -> None:
    bobs = await index.search(query(QUERIES[1], owner="bob", limit=50))
    assert {hit.document_id for hit in bobs.hits} == {"doc99"}
    nobody = await index.search(query(QUERIES[1], owner="carol", limit=5))
    assert nobody.hits == []
    assert not nobody.has_more


async def every_match_grouped(
    index: TantivySearchIndex, q: SearchQuery, per_document: int
) -> DocumentHitPage:
    """What grouping every match by document gives: the reference for search_documents."""
    every = await index.search(SearchQuery(q.owner, q.terms, q.filters, limit=100_000))
    grouped: dict[str, list] = {}  # type: ignore[type-arg]
    for hit in every.hits:
        grouped.setdefault(hit.document_id, []).append(hit)
    documents = [
        DocumentHit(document_id, hits[0].title, hits[:per_document])
        for document_id, hits in grouped.items()
    ]
    chosen = documents[q.offset : q.offset + q.limit]
    return DocumentHitPage(chosen, has_more=len(documents) > q.offset + len(chosen))


@pytest.mark.parametrize("text", QUERIES)
async def test_documents_grouped_from_the_top_pages_match_grouping_every_match(
    index: TantivySearchIndex, text: str
) -> None:
    for offset, limit, filters in [
        (0, 5, SearchFilters()),
        (3, 4, SearchFilters()),
        (0, 10, SearchFilters(tags=("odd",))),
        (1, 2, SearchFilters(document_ids=("doc3", "doc4", "doc5"))),
    ]:
        q = query(text, limit=limit, offset=offset, filters=filters)
        expected = await every_match_grouped(index, q, 3)
        assert await index.search_documents(q, pages_per_document=3) == expected


async def test_paging_by_offset_gives_the_ranking_in_order(index: TantivySearchIndex) -> None:
    whole = await index.search(query(QUERIES[0], limit=40))
    first = await index.search(query(QUERIES[0], limit=20))
    second = await index.search(query(QUERIES[0], limit=20, offset=20))
    assert first.hits + second.hits == whole.hits
    scores = [hit.score for hit in whole.hits]
    assert scores == sorted(scores, reverse=True)


async def test_an_owners_scores_depend_on_that_owners_documents_only(tmp_path: Path) -> None:
    index = TantivySearchIndex(tmp_path / "search")
    await index.open()
    try:
        bob = SearchableDocument("b1", "bob", "Note", (), datetime(2026, 1, 1, tzinfo=UTC))
        await index.replace(bob, [Page(1, "Patient Zebulon reported chest pain.")])
        mine = query("zebulon chest", owner="bob", limit=5)
        alone = await index.search(mine)
        plain = [Page(1, f"Routine visit {n}, chest clear.") for n in range(1, 20)]
        await index.replace(document(1, owner="alice"), plain)
        assert await index.search(mine) == alone
        named = [Page(1, f"Zebulon seen, visit {n}.") for n in range(1, 20)]
        await index.replace(document(2, owner="alice"), named)
        assert await index.search(mine) == alone
    finally:
        await index.close()


async def test_concurrent_writes_all_land_and_are_searchable_when_they_return(
    tmp_path: Path, abstracts: list[str]
) -> None:
    index = TantivySearchIndex(tmp_path / "search")
    await index.open()
    try:
        await asyncio.gather(
            *(index.replace(document(n), pages(abstracts[n : n + 3])) for n in range(40))
        )
        assert len(await index.indexed_owners()) == 40
        await asyncio.gather(*(index.remove(f"doc{n}") for n in range(0, 40, 2)))
        assert set(await index.indexed_owners()) == {f"doc{n}" for n in range(1, 40, 2)}
        hits = await index.search(query("patients cohort", limit=50))
        assert {hit.document_id for hit in hits.hits} <= {f"doc{n}" for n in range(1, 40, 2)}
    finally:
        await index.close()


def _texts(abstracts: list[str], n: int, round_: int) -> list[str]:
    start = (n * 7 + round_) % 1100
    return abstracts[start : start + 20]


def _bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


async def test_old_segment_files_are_collected(tmp_path: Path, abstracts: list[str]) -> None:
    """Many writes, edits and deletes leave the directory near a fresh build's size, not the
    sum of every segment ever written (paperless-ngx's index grew 93 MiB -> 18 GiB)."""
    ids = [f"doc{n}" for n in range(10)]
    for round_ in range(8):
        # Closed and opened again each round, as at every restart (or writer evicted): where
        # paperless-ngx leaked, merges finished at close and their leftovers never collected.
        index = TantivySearchIndex(tmp_path / "churned")
        await index.open()
        try:
            await asyncio.gather(
                *(
                    index.replace(document(n), pages(_texts(abstracts, n, round_)))
                    for n in range(10)
                )
            )
            await asyncio.gather(
                *(index.update_document(document(n, title=f"Edited {round_}")) for n in range(10))
            )
            await index.remove(ids[round_ % 10])
            final = {d: await index.page_texts([(d, p) for p in range(1, 21)]) for d in ids}
        finally:
            await index.close()
    fresh = TantivySearchIndex(tmp_path / "fresh")
    await fresh.open()
    try:
        for document_id, texts in final.items():
            if texts:
                n = int(document_id.removeprefix("doc"))
                ordered = [texts[(document_id, p)] for p in range(1, 21)]
                await fresh.replace(document(n, title="Edited 7"), pages(ordered))
    finally:
        await fresh.close()
    churned_bytes, fresh_bytes = _bytes(tmp_path / "churned"), _bytes(tmp_path / "fresh")
    assert churned_bytes < 3 * fresh_bytes, (churned_bytes, fresh_bytes)
