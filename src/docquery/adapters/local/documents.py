"""SqliteDocumentStore: document records in the embedded SQLite database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from docquery.adapters.local.sqlite import Database
from docquery.adapters.records import FIELDS, WORK_FIELDS, from_record, to_record, work_record
from docquery.domain.documents import (
    Document,
    DocumentChanges,
    DocumentPage,
    Lease,
    ListQuery,
    WorkState,
    format_timestamp,
    utcnow,
)
from docquery.domain.pipeline_rules import requeued
from docquery.domain.uploads import fold_tag
from docquery.errors import (
    AlreadyExists,
    DocumentBusy,
    DuplicateContent,
    LeaseLost,
    NotFound,
    PreconditionFailed,
    StoreUnavailable,
)

_COLUMNS = ", ".join(FIELDS)
_SELECT = f"SELECT {_COLUMNS} FROM documents"  # noqa: S608
_INSERT = f"INSERT INTO documents ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"  # noqa: S608
_UPDATE_EDITABLE = (
    "UPDATE documents SET title = ?, tags = ?, updated_at = ?, version = version + 1 "  # noqa: S608
    f"WHERE id = ? RETURNING {_COLUMNS}"
)
_SET_WORK = ", ".join(f"{name} = ?" for name in WORK_FIELDS)
_RESET_WORK = (
    f"UPDATE documents SET {_SET_WORK}, updated_at = ?, version = version + 1 "  # noqa: S608
    f"WHERE id = ? RETURNING {_COLUMNS}"
)
_UPDATE_WORK = (
    f"UPDATE documents SET {_SET_WORK}, updated_at = ?, version = version + 1 "  # noqa: S608
    "WHERE id = ? AND lease_owner = ? AND attempts = ? AND lease_expires_at = ? "
    f"RETURNING {_COLUMNS}"
)
_CLAIM = (
    "UPDATE documents SET work_state = ?, lease_owner = ?, lease_expires_at = ?, "  # noqa: S608
    "work_due_at = ?, attempts = attempts + 1, version = version + 1 "
    "WHERE id = (SELECT id FROM documents WHERE work_state = ? AND work_due_at <= ? "
    f"ORDER BY work_due_at LIMIT 1) RETURNING {_COLUMNS}"
)
_LEASED = WorkState.LEASED.value
_QUEUED = WorkState.QUEUED.value
_UPLOADING = WorkState.UPLOADING.value
_DELETING = WorkState.DELETING.value
# What every read sees: not an upload's reservation, not a document being deleted.
_VISIBLE = f"(work_state IS NULL OR work_state IN ('{_QUEUED}', '{_LEASED}'))"
_HIDE = (
    "UPDATE documents SET work_state = ?, work_due_at = ?, lease_owner = NULL, "
    "lease_expires_at = NULL, updated_at = ?, version = version + 1 WHERE id = ? AND "
)


class SqliteDocumentStore:
    """Document records in SQLite; the (owner, sha256) pair is unique."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, document: Document) -> None:
        await self._db.run(self._db.transaction, lambda conn: _insert(conn, document))

    async def create(self, document: Document) -> None:
        def complete(conn: sqlite3.Connection) -> None:
            # One transaction: a duplicate rolls the removal back, so the reservation stays.
            conn.execute(
                "DELETE FROM documents WHERE id = ? AND work_state = ?", (document.id, _UPLOADING)
            )
            _insert(conn, document)

        await self._db.run(self._db.transaction, complete)

    async def get(self, *, owner: str, document_id: str) -> Document:
        return await self._db.run(self._db.read, lambda conn: _owned(conn, owner, document_id))

    async def get_many(self, *, owner: str, document_ids: Sequence[str]) -> dict[str, Document]:
        ids = list(dict.fromkeys(document_ids))
        if not ids:
            return {}
        rows = await self._db.run(
            self._db.query,
            f"{_SELECT} WHERE owner = ? AND {_VISIBLE} AND id IN ({', '.join('?' * len(ids))})",
            (owner, *ids),
        )
        return {row["id"]: _to_document(row) for row in rows}

    async def find_by_sha256(self, *, owner: str, sha256: str) -> Document | None:
        rows = await self._db.run(
            self._db.query,
            f"{_SELECT} WHERE owner = ? AND sha256 = ? AND {_VISIBLE}",
            (owner, sha256),
        )
        return _to_document(rows[0]) if rows else None

    async def list_page(self, query: ListQuery) -> DocumentPage:
        where, params = ["owner = ?", _VISIBLE], [query.owner]
        if query.after is not None:
            created, _, document_id = query.after.partition("#")
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [created, created, document_id]
        if query.status is not None:
            where.append("status = ?")
            params.append(query.status.value)
        if query.tag is not None:
            # Case-insensitive; casefold() is Python's (sqlite.add_functions).
            where.append(
                "EXISTS (SELECT 1 FROM json_each(documents.tags) WHERE casefold(value) = ?)"
            )
            params.append(fold_tag(query.tag))
        if query.created_after is not None:
            where.append("created_at > ?")
            params.append(format_timestamp(query.created_after))
        if query.created_before is not None:
            where.append("created_at < ?")
            params.append(format_timestamp(query.created_before))
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
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

    async def mark_deleting(self, *, owner: str, document_id: str, now: datetime) -> Document:
        sql = f"{_HIDE}owner = ? AND {_VISIBLE} RETURNING {_COLUMNS}"
        moment = format_timestamp(now)
        return await self._one(sql, (_DELETING, moment, moment, document_id, owner), document_id)

    async def abandon_reservation(self, document: Document, *, now: datetime) -> Document:
        sql = f"{_HIDE}work_state = ? AND work_due_at <= ? RETURNING {_COLUMNS}"
        moment = format_timestamp(now)
        params = (_DELETING, moment, moment, document.id, _UPLOADING, moment)
        return await self._one(sql, params, document.id)

    async def delete(self, *, owner: str, document_id: str) -> Document:
        sql = (
            "DELETE FROM documents WHERE id = ? AND owner = ? AND work_state IN (?, ?) "  # noqa: S608
            f"RETURNING {_COLUMNS}"
        )
        return await self._one(sql, (document_id, owner, _UPLOADING, _DELETING), document_id)

    async def hidden_due(self, *, now: datetime, limit: int) -> list[Document]:
        rows = await self._db.run(
            self._db.query,
            f"{_SELECT} WHERE work_state IN (?, ?) AND work_due_at <= ? "
            "ORDER BY work_due_at LIMIT ?",
            (_UPLOADING, _DELETING, format_timestamp(now), limit),
        )
        return [_to_document(row) for row in rows]

    async def _one(self, sql: str, params: Sequence[object], document_id: str) -> Document:
        """The row a conditional write returns; NotFound if its condition did not hold."""

        def write(conn: sqlite3.Connection) -> Document:
            row = conn.execute(sql, params).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} not found")
            return _to_document(row)

        return await self._db.run(self._db.transaction, write)

    async def check(self) -> None:
        try:
            await self._db.run(self._db.query, "SELECT 1")
        except sqlite3.Error as exc:
            raise StoreUnavailable("document database does not answer") from exc

    async def claim(self, *, worker: str, now: datetime, lease_seconds: float) -> Document | None:
        expires = format_timestamp(now + timedelta(seconds=lease_seconds))

        def take(conn: sqlite3.Connection) -> Document | None:
            # One IMMEDIATE transaction holds the write lock across processes: one winner.
            row = conn.execute(
                _CLAIM,
                (_LEASED, worker, expires, expires, _QUEUED, format_timestamp(now)),
            ).fetchone()
            return _to_document(row) if row is not None else None

        return await self._db.run(self._db.transaction, take)

    async def save_work(self, document: Document, *, lease: Lease) -> Document:
        work = work_record(document)
        params = [
            *(work[name] for name in WORK_FIELDS),
            format_timestamp(utcnow()),
            document.id,
            lease.worker,
            lease.attempt,
            format_timestamp(lease.expires_at),
        ]

        def write(conn: sqlite3.Connection) -> Document:
            row = conn.execute(_UPDATE_WORK, params).fetchone()
            if row is None:
                raise LeaseLost(f"lease on {document.id} is gone")
            return _to_document(row)

        return await self._db.run(self._db.transaction, write)

    async def expired_leases(self, *, now: datetime, limit: int) -> list[Document]:
        rows = await self._db.run(
            self._db.query,
            f"{_SELECT} WHERE work_state = ? AND work_due_at < ? ORDER BY work_due_at LIMIT ?",
            (_LEASED, format_timestamp(now), limit),
        )
        return [_to_document(row) for row in rows]

    async def requeue(self, *, owner: str, document_id: str, now: datetime) -> Document:
        def reset(conn: sqlite3.Connection) -> Document:
            current = _owned(conn, owner, document_id)
            if current.work_state is WorkState.LEASED:
                raise DocumentBusy("the document is being processed; try again when it is done")
            fresh = requeued(current, now=now, from_scratch=True)
            work = work_record(fresh)
            row = conn.execute(
                _RESET_WORK,
                [*(work[n] for n in WORK_FIELDS), format_timestamp(now), current.id],
            ).fetchone()
            return _to_document(row)

        return await self._db.run(self._db.transaction, reset)


def _insert(conn: sqlite3.Connection, document: Document) -> None:
    record = to_record(document)
    record["tags"] = json.dumps(record["tags"])
    try:
        conn.execute(_INSERT, [record[name] for name in FIELDS])
    except sqlite3.IntegrityError as exc:
        existing = conn.execute(
            f"SELECT id FROM documents WHERE owner = ? AND sha256 = ? AND {_VISIBLE}",  # noqa: S608
            (document.owner, document.sha256),
        ).fetchone()
        if existing is not None:
            raise DuplicateContent(existing["id"]) from exc
        raise AlreadyExists(f"document {document.id} exists") from exc


def _owned(conn: sqlite3.Connection, owner: str, document_id: str) -> Document:
    """The owner's document, or NotFound (another owner's id looks exactly like a missing one)."""
    row = conn.execute(
        f"{_SELECT} WHERE id = ? AND owner = ? AND {_VISIBLE}", (document_id, owner)
    ).fetchone()
    if row is None:
        raise NotFound(f"document {document_id} not found")
    return _to_document(row)


def _to_document(row: sqlite3.Row) -> Document:
    record: dict[str, Any] = dict(row)
    record["tags"] = json.loads(record["tags"])
    return from_record(record)
