"""The search index matches tag filters in any case."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.processing import Page
from docquery.domain.search import SearchableDocument, SearchFilters, SearchQuery
from docquery.services.search_query import parse_query

CREATED = datetime(2026, 3, 1, tzinfo=UTC)


def _query(*tags: str) -> SearchQuery:
    return SearchQuery(
        owner="alice",
        terms=parse_query("warfarin"),
        filters=SearchFilters(tags=tags),
        limit=10,
    )


async def _found(index: TantivySearchIndex, *tags: str) -> list[str]:
    return [hit.document_id for hit in (await index.search(_query(*tags))).hits]


async def test_tag_filters_match_in_any_case(tmp_path: Path) -> None:
    index = TantivySearchIndex(tmp_path / "search")
    await index.open()
    try:
        document = SearchableDocument("d1", "alice", "Note", ("Cardiology", "STRASSE"), CREATED)
        await index.replace(document, [Page(1, "Warfarin was started.")])
        assert await _found(index, "cardiology") == ["d1"]
        assert await _found(index, "CARDIOLOGY", "straße") == ["d1"]
        assert await _found(index, "cardio") == []
        renamed = SearchableDocument("d1", "alice", "Note", ("Renal",), CREATED)
        await index.update_document(renamed)
        assert await _found(index, "RENAL") == ["d1"]
        assert await _found(index, "cardiology") == []
    finally:
        await index.close()
