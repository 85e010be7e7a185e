"""SqliteSearchIndex: the FTS5 search adapter the service had before Tantivy, kept for the
side-by-side figures (bench/search_latency.py, bench/search_quality.py) only.

Pages in an SQLite FTS5 table, ranked by BM25 with Porter stemming, scored in one thread (the
service's worker processes are not kept: they halved latency at best, docs/performance.md)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from _fts5_sql import (
    Ranked,
    document_hits,
    documents_of,
    owner_token,
    page_hits,
    ranked,
    search_documents,
)
from docquery.adapters.local.sqlite import Database, ReadPool
from docquery.domain.documents import format_timestamp
from docquery.domain.processing import Page
from docquery.domain.search import (
    Clause,
    DocumentHitPage,
    HitPage,
    SearchableDocument,
    SearchFilters,
    SearchQuery,
    SearchTerms,
)
from docquery.domain.uploads import fold_tag
from docquery.errors import StoreUnavailable

# group=document: the most top pages looked through for enough documents before grouping all
# the matches in one scan instead.
MAX_GROUPED_PAGES = 5000
# What readiness searches for: an owner no principal can be (NUL is in no key name), so the
# probe scores nothing and costs next to nothing, yet takes every step a search takes.
READINESS_PROBE = SearchQuery(
    owner="\x00readiness",
    terms=SearchTerms(include=(Clause(("readiness",)),)),
    filters=SearchFilters(),
    limit=1,
)

# The index is derived data in a file of its own: its writes never queue behind the records'.
SEARCH_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE indexed_documents (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX indexed_documents_owner ON indexed_documents (owner, created_at);
    CREATE TABLE indexed_pages (
        rowid INTEGER PRIMARY KEY,
        document_id TEXT NOT NULL REFERENCES indexed_documents (id) ON DELETE CASCADE,
        page INTEGER NOT NULL,
        UNIQUE (document_id, page)
    );
    CREATE VIRTUAL TABLE page_text USING fts5(
        title, body, owner, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    """,
    # Tags are kept casefolded, so a filter matches in any case (sqlite.add_functions).
    """
    UPDATE indexed_documents SET tags = (
        SELECT json_group_array(casefold(value)) FROM json_each(indexed_documents.tags)
    );
    """,
)


class SqliteSearchIndex:
    """The embedded SearchIndex; also each task's local index on the aws profile.

    Writes go through one connection on its own thread; reads through read-only connections.
    BM25 scoring of every matching page is the cost of a search (about a microsecond a page:
    a ten-word query matches half of a 50,000-page library), so with `workers` a search is
    split into rowid ranges scored side by side in worker processes, one per core. Threads
    would not do: measured, two threads scoring halves take longer than one doing it all (they
    contend inside SQLite), two processes half as long. FTS5 takes its statistics from the whole
    table whatever the range, so the merged ranking is exact.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = Database(path, SEARCH_MIGRATIONS)
        self._reads = ReadPool(path, 2)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._reads.close()
        await self._db.close()

    async def replace(self, document: SearchableDocument, pages: Sequence[Page]) -> None:
        rows = [(page.number, page.text) for page in pages if page.text.strip()]

        def write(conn: sqlite3.Connection) -> None:
            _delete_pages(conn, document.id)
            conn.execute(
                "INSERT INTO indexed_documents (id, owner, title, tags, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
                " title = excluded.title, tags = excluded.tags, created_at = excluded.created_at",
                _document_row(document),
            )
            for number, text in rows:
                cursor = conn.execute(
                    "INSERT INTO indexed_pages (document_id, page) VALUES (?, ?)",
                    (document.id, number),
                )
                conn.execute(
                    "INSERT INTO page_text (rowid, title, body, owner) VALUES (?, ?, ?, ?)",
                    (cursor.lastrowid, document.title, text, owner_token(document.owner)),
                )

        await self._db.run(self._db.transaction, write)

    async def update_document(self, document: SearchableDocument) -> None:
        def write(conn: sqlite3.Connection) -> None:
            updated = conn.execute(
                "UPDATE indexed_documents SET title = ?, tags = ? WHERE id = ?",
                (document.title, _tags_json(document.tags), document.id),
            ).rowcount
            if updated:
                conn.execute(
                    "UPDATE page_text SET title = ? WHERE rowid IN"
                    " (SELECT rowid FROM indexed_pages WHERE document_id = ?)",
                    (document.title, document.id),
                )

        await self._db.run(self._db.transaction, write)

    async def remove(self, document_id: str) -> None:
        await self._db.run(self._db.transaction, lambda conn: _delete_pages(conn, document_id))

    async def search(self, query: SearchQuery) -> HitPage:
        best = await self._best(query, query.offset + query.limit + 1)
        chosen = best[query.offset : query.offset + query.limit + 1]
        has_more = len(chosen) > query.limit
        chosen = chosen[: query.limit]
        hits = await self._reads.run(lambda conn: page_hits(conn, query, chosen))
        return HitPage(hits=hits, has_more=has_more)

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        """Documents ranked by their best page. The best pages overall hold the best documents:
        take more of them until they name enough documents, then each chosen document's own
        best pages (FTS5 seeks to its rowids). Where one document fills thousands of the top
        pages, a single ranked scan groups all the matches instead."""
        wanted = query.offset + query.limit + 1
        top = wanted * pages_per_document
        while top <= MAX_GROUPED_PAGES:
            best = await self._best(query, top)
            owners = await self._reads.run(partial(documents_of, matches=best))
            order = _documents_by_best_page(best, owners)
            if len(order) >= wanted or len(best) < top:
                chosen = order[query.offset : query.offset + query.limit]
                hits = await self._reads.run(
                    partial(
                        document_hits,
                        query=query,
                        document_ids=chosen,
                        per_document=pages_per_document,
                    )
                )
                return DocumentHitPage(hits=hits, has_more=len(order) > len(chosen) + query.offset)
            top *= 4
        return await self._reads.run(lambda conn: search_documents(conn, query, pages_per_document))

    async def _best(self, query: SearchQuery, count: int) -> list[Ranked]:
        """The `count` best matches, best first."""
        return await self._reads.run(partial(ranked, query=query, rowids=None, limit=count))

    async def page_texts(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        def read(conn: sqlite3.Connection) -> dict[tuple[str, int], str]:
            found: dict[tuple[str, int], str] = {}
            for document_id, page in dict.fromkeys(keys):
                row = conn.execute(
                    "SELECT t.body FROM indexed_pages p JOIN page_text t ON t.rowid = p.rowid"
                    " WHERE p.document_id = ? AND p.page = ?",
                    (document_id, page),
                ).fetchone()
                if row is not None:
                    found[(document_id, page)] = row[0]
            return found

        return await self._reads.run(read)

    async def indexed_owners(self) -> dict[str, str]:
        rows = await self._reads.run(
            lambda conn: conn.execute("SELECT id, owner FROM indexed_documents").fetchall()
        )
        return {row[0]: row[1] for row in rows}

    async def owner_of(self, document_id: str) -> str | None:
        """The owner of an indexed document; None if it is not indexed."""
        rows = await self._db.run(
            self._db.query, "SELECT owner FROM indexed_documents WHERE id = ?", (document_id,)
        )
        return str(rows[0][0]) if rows else None

    async def check(self) -> None:
        """Ready if the index takes writes and answers a search as searches are answered (by
        the workers, or in the server if there are none): one that cannot serve is not ready."""
        try:
            await self._db.run(self._db.query, "SELECT 1 FROM indexed_documents LIMIT 1")
            await self._best(READINESS_PROBE, 1)
        except sqlite3.Error as exc:
            raise StoreUnavailable("the search index does not answer") from exc


def _documents_by_best_page(best: Sequence[Ranked], owners: dict[int, str]) -> list[str]:
    """The documents of these matches, ordered by their best match (then id, as SQL does)."""
    first: dict[str, float] = {}
    for rowid, rank in best:
        if rowid in owners:
            first.setdefault(owners[rowid], rank)
    return sorted(first, key=lambda document_id: (first[document_id], document_id))


def _delete_pages(conn: sqlite3.Connection, document_id: str) -> None:
    conn.execute(
        "DELETE FROM page_text WHERE rowid IN"
        " (SELECT rowid FROM indexed_pages WHERE document_id = ?)",
        (document_id,),
    )
    conn.execute("DELETE FROM indexed_pages WHERE document_id = ?", (document_id,))
    conn.execute("DELETE FROM indexed_documents WHERE id = ?", (document_id,))


def _document_row(document: SearchableDocument) -> tuple[str, str, str, str, str]:
    return (
        document.id,
        document.owner,
        document.title,
        _tags_json(document.tags),
        format_timestamp(document.created_at),
    )


def _tags_json(tags: Sequence[str]) -> str:
    # Only filters read them: casefolded, so that they match in any case.
    return json.dumps(sorted({fold_tag(tag) for tag in tags}))
