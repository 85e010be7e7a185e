"""SqliteSearchIndex: pages in an SQLite FTS5 table, ranked by BM25 with Porter stemming."""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from docquery.adapters.local.sqlite import Database
from docquery.domain.documents import format_timestamp
from docquery.domain.processing import Page
from docquery.domain.search import (
    DocumentHit,
    DocumentHitPage,
    HitPage,
    PageHit,
    SearchableDocument,
    SearchQuery,
)
from docquery.services.search_query import fts5_expression

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
        title, body, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    """,
)

# BM25 weights of the title and body columns: a word in the title counts four times as much.
TITLE_WEIGHT, BODY_WEIGHT = 4.0, 1.0
_RANK = f"bm25(page_text, {TITLE_WEIGHT}, {BODY_WEIGHT})"
# Marks around matched terms in snippets: private-use characters no extracted text holds, so
# the snippet can be HTML-escaped first and the marks turned into <mark> after.
_OPEN, _CLOSE = "\ue000", "\ue001"
SNIPPET_TOKENS = 24


class SqliteSearchIndex:
    """The embedded SearchIndex; also each task's local index on the aws profile."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def at(cls, path: Path) -> SqliteSearchIndex:
        return cls(Database(path, SEARCH_MIGRATIONS))

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
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
                    "INSERT INTO page_text (rowid, title, body) VALUES (?, ?, ?)",
                    (cursor.lastrowid, document.title, text),
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
        return await self._db.run(self._db.read, lambda conn: _search_pages(conn, query))

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        return await self._db.run(
            self._db.read, lambda conn: _search_documents(conn, query, pages_per_document)
        )

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

        return await self._db.run(self._db.read, read)

    async def owner_of(self, document_id: str) -> str | None:
        """The owner of an indexed document; None if it is not indexed."""
        rows = await self._db.run(
            self._db.query, "SELECT owner FROM indexed_documents WHERE id = ?", (document_id,)
        )
        return str(rows[0][0]) if rows else None

    async def check(self) -> None:
        await self._db.run(self._db.query, "SELECT 1 FROM indexed_documents LIMIT 1")


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
    return json.dumps(sorted(set(tags)))


def _matches(query: SearchQuery) -> tuple[str, list[object]]:
    """The ranked matches of the query within the owner's filtered documents."""
    where = ["page_text MATCH ?", "d.owner = ?"]
    params: list[object] = [fts5_expression(query.terms), query.owner]
    filters = query.filters
    if filters.document_ids is not None:
        where.append(f"d.id IN ({', '.join('?' * len(filters.document_ids))})")
        params.extend(filters.document_ids)
    for tag in filters.tags or ():
        where.append("EXISTS (SELECT 1 FROM json_each(d.tags) WHERE json_each.value = ?)")
        params.append(tag)
    if filters.created_after is not None:
        where.append("d.created_at > ?")
        params.append(format_timestamp(filters.created_after))
    if filters.created_before is not None:
        where.append("d.created_at < ?")
        params.append(format_timestamp(filters.created_before))
    # Built from constants and ? placeholders only; every value is a parameter.
    sql = (
        f"SELECT p.rowid AS rowid, p.document_id AS document_id, p.page AS page,"  # noqa: S608
        f" d.title AS title, {_RANK} AS rank"
        " FROM page_text JOIN indexed_pages p ON p.rowid = page_text.rowid"
        " JOIN indexed_documents d ON d.id = p.document_id"
        f" WHERE {' AND '.join(where)}"
    )
    return sql, params


def _search_pages(conn: sqlite3.Connection, query: SearchQuery) -> HitPage:
    sql, params = _matches(query)
    rows = conn.execute(
        f"{sql} ORDER BY rank, rowid LIMIT ? OFFSET ?",
        [*params, query.limit + 1, query.offset],
    ).fetchall()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    snippets = _snippets(conn, query, [row["rowid"] for row in rows])
    return HitPage(
        hits=[_page_hit(row, snippets) for row in rows],
        has_more=has_more,
    )


def _search_documents(
    conn: sqlite3.Connection, query: SearchQuery, pages_per_document: int
) -> DocumentHitPage:
    """Documents ranked by their best page, each with its best few pages."""
    sql, params = _matches(query)
    rows = conn.execute(
        f"WITH m AS ({sql}), ranked AS (SELECT m.*,"  # noqa: S608
        " row_number() OVER (PARTITION BY document_id ORDER BY rank, rowid) AS n,"
        " min(rank) OVER (PARTITION BY document_id) AS best FROM m),"
        " chosen AS (SELECT DISTINCT document_id, best FROM ranked"
        " ORDER BY best, document_id LIMIT ? OFFSET ?)"
        " SELECT ranked.* FROM ranked JOIN chosen USING (document_id)"
        " WHERE n <= ? ORDER BY ranked.best, ranked.document_id, n",
        [*params, query.limit + 1, query.offset, pages_per_document],
    ).fetchall()
    snippets = _snippets(conn, query, [row["rowid"] for row in rows])
    documents: dict[str, list[PageHit]] = {}
    for row in rows:
        documents.setdefault(row["document_id"], []).append(_page_hit(row, snippets))
    grouped = [
        DocumentHit(document_id=pages[0].document_id, title=pages[0].title, pages=pages)
        for pages in documents.values()
    ]
    return DocumentHitPage(hits=grouped[: query.limit], has_more=len(grouped) > query.limit)


def _snippets(
    conn: sqlite3.Connection, query: SearchQuery, rowids: Sequence[int]
) -> dict[int, str]:
    """Snippets of the chosen pages only: snippet() is costly, so never for every match."""
    if not rowids:
        return {}
    rows = conn.execute(
        f"SELECT rowid, snippet(page_text, 1, ?, ?, '…', {SNIPPET_TOKENS}) FROM page_text"  # noqa: S608
        f" WHERE page_text MATCH ? AND rowid IN ({', '.join('?' * len(rowids))})",
        [_OPEN, _CLOSE, fts5_expression(query.terms), *rowids],
    ).fetchall()
    return {rowid: _marked(text) for rowid, text in rows}


def _marked(snippet: str) -> str:
    """HTML-safe snippet text with matched terms in <mark>."""
    return html.escape(snippet, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _page_hit(row: sqlite3.Row, snippets: dict[int, str]) -> PageHit:
    return PageHit(
        document_id=row["document_id"],
        title=row["title"],
        page=row["page"],
        snippet=snippets.get(row["rowid"], ""),
        # bm25() is lower for better matches; clients expect higher to be better.
        score=round(-row["rank"], 4),
    )
