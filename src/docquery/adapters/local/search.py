"""SqliteSearchIndex: pages in an SQLite FTS5 table, ranked by BM25 with Porter stemming."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import chain
from multiprocessing import get_context
from pathlib import Path

from docquery.adapters.local.sqlite import Database, ReadPool
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
        title, body, owner, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    """,
)

# BM25 weights of the title and body columns: a word in the title counts four times as much.
# The owner column holds one token naming the owner: every MATCH requires it, so only the
# owner's pages are ever scored, without a join per matching page; it weighs nothing.
TITLE_WEIGHT, BODY_WEIGHT = 4.0, 1.0
_RANK = f"bm25(page_text, {TITLE_WEIGHT}, {BODY_WEIGHT}, 0.0)"
# Marks around matched terms in snippets: private-use characters no extracted text holds, so
# the snippet can be HTML-escaped first and the marks turned into <mark> after.
_OPEN, _CLOSE = "\ue000", "\ue001"
SNIPPET_TOKENS = 24


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

    def __init__(self, path: Path, *, workers: int = 0) -> None:
        self._path = path
        self._db = Database(path, SEARCH_MIGRATIONS)
        self._reads = ReadPool(path, 2)
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
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
        wanted = query.offset + query.limit + 1
        if self._workers > 1:
            lowest, highest = await self._reads.run(_rowid_bounds)
            loop = asyncio.get_running_loop()
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        self._worker_pool(), _rank_in_worker, self._path, query, r, wanted
                    )
                    for r in _split(lowest, highest, self._workers)
                )
            )
        else:
            parts = [
                await self._reads.run(partial(_ranked, query=query, rowids=None, limit=wanted))
            ]
        ranked = sorted(chain.from_iterable(parts), key=lambda row: (row[1], row[0]))
        chosen = ranked[query.offset : query.offset + query.limit + 1]
        has_more = len(chosen) > query.limit
        chosen = chosen[: query.limit]
        hits = await self._reads.run(lambda conn: _page_hits(conn, query, chosen))
        return HitPage(hits=hits, has_more=has_more)

    def _worker_pool(self) -> ProcessPoolExecutor:
        """Started at the first search: fresh interpreters (the server has threads and a loop)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"))
        return self._pool

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        return await self._reads.run(
            lambda conn: _search_documents(conn, query, pages_per_document)
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


def owner_token(owner: str) -> str:
    """One token per owner: `o` and digits, which no tokenizer rule splits or stems."""
    return "o" + str(int(hashlib.sha256(owner.encode()).hexdigest()[:15], 16))


def _match(query: SearchQuery) -> str:
    return f'owner : "{owner_token(query.owner)}" AND ({fts5_expression(query.terms)})'


def _matches(query: SearchQuery, *, with_page: bool = False) -> tuple[str, list[object]]:
    """The owner's matching pages (rowid, rank), and with_page their document and page; joined
    with the documents only when a filter or the caller needs them."""
    where = ["page_text MATCH ?"]
    params: list[object] = [_match(query)]
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
    columns = f"page_text.rowid AS rowid, {_RANK} AS rank"
    tables = "page_text"
    if with_page or len(where) > 1:
        where.append("d.owner = ?")
        params.append(query.owner)
        columns += ", p.document_id AS document_id, p.page AS page, d.title AS title"
        tables += (
            " JOIN indexed_pages p ON p.rowid = page_text.rowid"
            " JOIN indexed_documents d ON d.id = p.document_id"
        )
    # Built from constants and ? placeholders only; every value is a parameter.
    sql = f"SELECT {columns} FROM {tables} WHERE {' AND '.join(where)}"  # noqa: S608
    return sql, params


def _rowid_bounds(conn: sqlite3.Connection) -> tuple[int, int]:
    # Two subqueries: each is one step down the rowid B-tree; min and max together scan it.
    lowest, highest = conn.execute(
        "SELECT (SELECT min(rowid) FROM indexed_pages), (SELECT max(rowid) FROM indexed_pages)"
    ).fetchone()
    return (lowest or 0), (highest or 0)


def _split(lowest: int, highest: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous rowid ranges covering lowest..highest (fewer if there are few rows)."""
    size = max(1, -(-(highest - lowest + 1) // parts))
    return [(start, min(start + size - 1, highest)) for start in range(lowest, highest + 1, size)]


Ranked = tuple[int, float]  # rowid, rank
_worker_connections: dict[Path, sqlite3.Connection] = {}


def _ranked(
    conn: sqlite3.Connection, query: SearchQuery, rowids: tuple[int, int] | None, limit: int
) -> list[Ranked]:
    """The best `limit` matches (of those whose rowid lies in the range: FTS5 seeks to it)."""
    sql, params = _matches(query)
    if rowids is not None:
        sql += " AND page_text.rowid BETWEEN ? AND ?"
        params += rowids
    rows = conn.execute(f"{sql} ORDER BY rank, rowid LIMIT ?", [*params, limit]).fetchall()
    return [(row[0], row[1]) for row in rows]


def _rank_in_worker(
    path: Path, query: SearchQuery, rowids: tuple[int, int], limit: int
) -> list[Ranked]:
    """`_ranked` in a worker process, on a read-only connection it keeps."""
    conn = _worker_connections.get(path)
    if conn is None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.execute("PRAGMA busy_timeout=5000")
        _worker_connections[path] = conn
    return _ranked(conn, query, rowids, limit)


def _search_documents(
    conn: sqlite3.Connection, query: SearchQuery, pages_per_document: int
) -> DocumentHitPage:
    """Documents ranked by their best page, each with its best few pages."""
    sql, params = _matches(query, with_page=True)
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
        documents.setdefault(row["document_id"], []).append(
            _page_hit(
                row["document_id"],
                row["page"],
                row["title"],
                row["rank"],
                snippets.get(row["rowid"], ""),
            )
        )
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
        [_OPEN, _CLOSE, _match(query), *rowids],
    ).fetchall()
    return {rowid: _marked(text) for rowid, text in rows}


def _marked(snippet: str) -> str:
    """HTML-safe snippet text with matched terms in <mark>."""
    return html.escape(snippet, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _page_hits(
    conn: sqlite3.Connection, query: SearchQuery, chosen: Sequence[Ranked]
) -> list[PageHit]:
    """The chosen matches, in order, with their document, page, title and snippet."""
    if not chosen:
        return []
    rowids = [rowid for rowid, _ in chosen]
    pages = {
        row[0]: (row[1], row[2], row[3])
        for row in conn.execute(
            "SELECT p.rowid, p.document_id, p.page, d.title FROM indexed_pages p"  # noqa: S608
            " JOIN indexed_documents d ON d.id = p.document_id"
            f" WHERE p.rowid IN ({', '.join('?' * len(rowids))})",
            rowids,
        )
    }
    snippets = _snippets(conn, query, rowids)
    return [
        _page_hit(*pages[rowid], rank, snippets.get(rowid, ""))
        for rowid, rank in chosen
        if rowid in pages  # a page removed since it was ranked
    ]


def _page_hit(document_id: str, page: int, title: str, rank: float, snippet: str) -> PageHit:
    return PageHit(
        document_id=document_id,
        title=title,
        page=page,
        snippet=snippet,
        # bm25() is lower for better matches; clients expect higher to be better.
        score=round(-rank, 4),
    )
