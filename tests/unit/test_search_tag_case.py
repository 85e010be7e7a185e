"""The search index matches tag filters in any case, including an index built before that."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from docquery.adapters.local.search import SEARCH_MIGRATIONS, SqliteSearchIndex
from docquery.adapters.local.search_sql import owner_token
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


async def _found(index: SqliteSearchIndex, *tags: str) -> list[str]:
    return [hit.document_id for hit in (await index.search(_query(*tags))).hits]


async def test_tag_filters_match_in_any_case(tmp_path: Path) -> None:
    index = SqliteSearchIndex(tmp_path / "search.sqlite3")
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


async def test_an_index_built_before_tags_were_folded_matches_in_any_case(
    tmp_path: Path,
) -> None:
    path = tmp_path / "search.sqlite3"
    # The index as the first schema version left it: tags stored as given.
    old = sqlite3.connect(path)
    old.executescript(SEARCH_MIGRATIONS[0])
    old.execute(
        "INSERT INTO indexed_documents VALUES (?, ?, ?, ?, ?)",
        ("d1", "alice", "Note", json.dumps(["Cardiology", "Ärzte"]), CREATED.isoformat()),
    )
    old.execute("INSERT INTO indexed_pages (rowid, document_id, page) VALUES (1, 'd1', 1)")
    old.execute(
        "INSERT INTO page_text (rowid, title, body, owner) VALUES (1, 'Note', ?, ?)",
        ("Warfarin was started.", owner_token("alice")),
    )
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    index = SqliteSearchIndex(path)
    await index.open()
    try:
        assert await _found(index, "cardiology") == ["d1"]
        assert await _found(index, "ÄRZTE") == ["d1"]
    finally:
        await index.close()
