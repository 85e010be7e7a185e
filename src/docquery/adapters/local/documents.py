"""SqliteDocumentStore: document records in the embedded SQLite database."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from docquery.adapters.local.sqlite import Database
from docquery.domain.documents import (
    Document,
    DocumentChanges,
    DocumentPage,
    DocumentStatus,
    ListQuery,
    format_timestamp,
    parse_timestamp,
    utcnow,
)
from docquery.errors import DuplicateContent, NotFound, PreconditionFailed, StoreUnavailable

_COLUMNS = (
    "id, owner, title, filename, content_type, size, sha256, blob_key, tags, status, "
    "page_count, created_at, updated_at, version"
)

_UPDATE_EDITABLE = (
    "UPDATE documents SET title = ?, tags = ?, updated_at = ?, version = version + 1 "  # noqa: S608
    f"WHERE id = ? RETURNING {_COLUMNS}"
)


class SqliteDocumentStore:
    """Document records in SQLite; the (owner, sha256) pair is unique."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, document: Document) -> None:
        await self._db.run(self._db.transaction, lambda conn: self._insert(conn, document))

    async def get(self, *, owner: str, document_id: str) -> Document:
        return await self._db.run(self._db.read, lambda conn: _owned(conn, owner, document_id))

    async def find_by_sha256(self, *, owner: str, sha256: str) -> Document | None:
        rows = await self._db.run(
            self._db.query,
            f"SELECT {_COLUMNS} FROM documents WHERE owner = ? AND sha256 = ?",  # noqa: S608
            (owner, sha256),
        )
        return _to_document(rows[0]) if rows else None

    async def list_page(self, query: ListQuery) -> DocumentPage:
        where, params = ["owner = ?"], [query.owner]
        if query.after is not None:
            created, _, document_id = query.after.partition("#")
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [created, created, document_id]
        if query.status is not None:
            where.append("status = ?")
            params.append(query.status.value)
        if query.tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(documents.tags) WHERE value = ?)")
            params.append(query.tag)
        if query.created_after is not None:
            where.append("created_at > ?")
            params.append(format_timestamp(query.created_after))
        if query.created_before is not None:
            where.append("created_at < ?")
            params.append(format_timestamp(query.created_before))
        sql = (
            f"SELECT {_COLUMNS} FROM documents WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        rows = await self._db.run(self._db.query, sql, [*params, query.limit + 1])
        items = [_to_document(row) for row in rows[: query.limit]]
        return DocumentPage(items=items, has_more=len(rows) > query.limit)

    async def update(
        self,
        *,
        owner: str,
        document_id: str,
        changes: DocumentChanges,
        expected_version: int | None,
    ) -> Document:
        def apply(conn: sqlite3.Connection) -> Document:
            current = _owned(conn, owner, document_id)
            if expected_version is not None and current.version != expected_version:
                raise PreconditionFailed("the document changed since that ETag was issued")
            title = changes.title if changes.title is not None else current.title
            tags = changes.tags if changes.tags is not None else current.tags
            updated = conn.execute(
                _UPDATE_EDITABLE,
                (title, json.dumps(list(tags)), format_timestamp(utcnow()), current.id),
            ).fetchone()
            return _to_document(updated)

        return await self._db.run(self._db.transaction, apply)

    async def delete(self, *, owner: str, document_id: str) -> Document:
        def remove(conn: sqlite3.Connection) -> Document:
            row = conn.execute(
                f"DELETE FROM documents WHERE id = ? AND owner = ? RETURNING {_COLUMNS}",  # noqa: S608
                (document_id, owner),
            ).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} not found")
            return _to_document(row)

        return await self._db.run(self._db.transaction, remove)

    async def check(self) -> None:
        try:
            await self._db.run(self._db.query, "SELECT 1")
        except sqlite3.Error as exc:
            raise StoreUnavailable("document database does not answer") from exc

    @staticmethod
    def _insert(conn: sqlite3.Connection, document: Document) -> None:
        try:
            conn.execute(
                f"INSERT INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608, E501
                _to_row(document),
            )
        except sqlite3.IntegrityError as exc:
            existing = conn.execute(
                "SELECT id FROM documents WHERE owner = ? AND sha256 = ?",
                (document.owner, document.sha256),
            ).fetchone()
            if existing is None:
                raise
            raise DuplicateContent(existing["id"]) from exc


def _owned(conn: sqlite3.Connection, owner: str, document_id: str) -> Document:
    """The owner's document, or NotFound (another owner's id looks exactly like a missing one)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM documents WHERE id = ? AND owner = ?",  # noqa: S608
        (document_id, owner),
    ).fetchone()
    if row is None:
        raise NotFound(f"document {document_id} not found")
    return _to_document(row)


def _to_row(document: Document) -> tuple[Any, ...]:
    return (
        document.id,
        document.owner,
        document.title,
        document.filename,
        document.content_type,
        document.size,
        document.sha256,
        document.blob_key,
        json.dumps(list(document.tags)),
        document.status.value,
        document.page_count,
        format_timestamp(document.created_at),
        format_timestamp(document.updated_at),
        document.version,
    )


def _to_document(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"],
        owner=row["owner"],
        title=row["title"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        blob_key=row["blob_key"],
        tags=tuple(json.loads(row["tags"])),
        status=DocumentStatus(row["status"]),
        page_count=row["page_count"],
        created_at=parse_timestamp(row["created_at"]),
        updated_at=parse_timestamp(row["updated_at"]),
        version=row["version"],
    )
