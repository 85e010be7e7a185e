"""The read side of the bench's FTS5 adapter (_fts5_index.py): ranked matches, snippets and
hits, as SQL over FTS5."""

from __future__ import annotations

import hashlib
import html
import sqlite3
from collections.abc import Sequence

from docquery.domain.documents import format_timestamp
from docquery.domain.search import (
    Clause,
    DocumentHit,
    DocumentHitPage,
    PageHit,
    SearchQuery,
    SearchTerms,
)
from docquery.domain.uploads import fold_tag

# BM25 weights of the title and body columns: a word in the title counts four times as much.
# The owner column holds one token naming the owner: every MATCH requires it, so only the
# owner's pages are ever scored, without a join per matching page; it weighs nothing.
TITLE_WEIGHT, BODY_WEIGHT = 4.0, 1.0
_RANK = f"bm25(page_text, {TITLE_WEIGHT}, {BODY_WEIGHT}, 0.0)"
# Marks around matched terms in snippets: private-use characters no extracted text holds, so
# the snippet can be HTML-escaped first and the marks turned into <mark> after.
_OPEN, _CLOSE = "\ue000", "\ue001"
SNIPPET_TOKENS = 24


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
        params.append(fold_tag(tag))  # stored casefolded
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


Ranked = tuple[int, float]  # rowid, rank


def ranked(
    conn: sqlite3.Connection, query: SearchQuery, rowids: tuple[int, int] | None, limit: int
) -> list[Ranked]:
    """The best `limit` matches (of those whose rowid lies in the range: FTS5 seeks to it)."""
    sql, params = _matches(query)
    if rowids is not None:
        sql += " AND page_text.rowid BETWEEN ? AND ?"
        params += rowids
    rows = conn.execute(f"{sql} ORDER BY rank, rowid LIMIT ?", [*params, limit]).fetchall()
    return [(row[0], row[1]) for row in rows]


def search_documents(
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


def page_hits(
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


def documents_of(conn: sqlite3.Connection, matches: Sequence[Ranked]) -> dict[int, str]:
    """The document of each matching page (rowid)."""
    rowids = [rowid for rowid, _ in matches]
    if not rowids:
        return {}
    rows = conn.execute(
        f"SELECT rowid, document_id FROM indexed_pages WHERE rowid IN ({', '.join('?' * len(rowids))})",  # noqa: S608, E501
        rowids,
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def document_hits(
    conn: sqlite3.Connection, query: SearchQuery, document_ids: Sequence[str], per_document: int
) -> list[DocumentHit]:
    """Each document's best pages: its pages are one rowid range, which FTS5 seeks to."""
    best: list[Ranked] = []
    for document_id in document_ids:
        first, last = conn.execute(
            "SELECT min(rowid), max(rowid) FROM indexed_pages WHERE document_id = ?",
            (document_id,),
        ).fetchone()
        if first is not None:  # else removed since it was ranked
            best += ranked(conn, query, (first, last), per_document)
    grouped: dict[str, list[PageHit]] = {}
    for hit in page_hits(conn, query, best):  # one snippet query for them all
        grouped.setdefault(hit.document_id, []).append(hit)
    return [
        DocumentHit(document_id=document_id, title=pages[0].title, pages=pages)
        for document_id, pages in grouped.items()
    ]


def fts5_expression(terms: SearchTerms) -> str:
    """The FTS5 MATCH expression: any include clause, and none of the exclude clauses."""
    include = _any_of(terms.include)
    exclude = _any_of(terms.exclude)
    return f"({include}) NOT ({exclude})" if exclude else f"({include})"


def _any_of(clauses: tuple[Clause, ...]) -> str:
    return " OR ".join(_literal(c.tokens) for c in clauses if c.tokens)


def _literal(tokens: tuple[str, ...]) -> str:
    text = " ".join(tokens).replace("\x00", " ").replace('"', '""')
    return f'"{text}"'
