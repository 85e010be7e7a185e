"""One SQLite database file, used from a single dedicated thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from docquery.errors import StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")

# Each entry moves the schema one version on; applied in order, once, inside a transaction.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        blob_key TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL,
        page_count INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        UNIQUE (owner, sha256)
    );
    CREATE INDEX documents_owner_created ON documents (owner, created_at DESC, id DESC);
    """,
    """
    ALTER TABLE documents ADD COLUMN stage TEXT;
    ALTER TABLE documents ADD COLUMN pages_done INTEGER;
    ALTER TABLE documents ADD COLUMN pages_total INTEGER;
    ALTER TABLE documents ADD COLUMN failure_code TEXT;
    ALTER TABLE documents ADD COLUMN failure_message TEXT;
    ALTER TABLE documents ADD COLUMN summary_status TEXT NOT NULL DEFAULT 'pending';
    ALTER TABLE documents ADD COLUMN summary_failure_code TEXT;
    ALTER TABLE documents ADD COLUMN summary_failure_message TEXT;
    ALTER TABLE documents ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN work_state TEXT;
    ALTER TABLE documents ADD COLUMN work_due_at TEXT;
    ALTER TABLE documents ADD COLUMN lease_owner TEXT;
    ALTER TABLE documents ADD COLUMN lease_expires_at TEXT;
    UPDATE documents SET work_state = 'queued', work_due_at = created_at
        WHERE status IN ('queued', 'processing');
    CREATE INDEX documents_work ON documents (work_state, work_due_at)
        WHERE work_state IS NOT NULL;
    """,
    # (owner, sha256) is unique among visible documents only: an upload's reservation and a
    # document being deleted must not hold the bytes against a new upload. SQLite cannot drop a
    # table constraint, so the table is rebuilt.
    """
    CREATE TABLE documents_new (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        blob_key TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL,
        page_count INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        stage TEXT,
        pages_done INTEGER,
        pages_total INTEGER,
        failure_code TEXT,
        failure_message TEXT,
        summary_status TEXT NOT NULL DEFAULT 'pending',
        summary_failure_code TEXT,
        summary_failure_message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        work_state TEXT,
        work_due_at TEXT,
        lease_owner TEXT,
        lease_expires_at TEXT
    );
    INSERT INTO documents_new SELECT id, owner, title, filename, content_type, size, sha256,
        blob_key, tags, status, page_count, created_at, updated_at, version, stage, pages_done,
        pages_total, failure_code, failure_message, summary_status, summary_failure_code,
        summary_failure_message, attempts, work_state, work_due_at, lease_owner,
        lease_expires_at FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_new RENAME TO documents;
    CREATE INDEX documents_owner_created ON documents (owner, created_at DESC, id DESC);
    CREATE INDEX documents_work ON documents (work_state, work_due_at)
        WHERE work_state IS NOT NULL;
    CREATE UNIQUE INDEX documents_owner_sha256 ON documents (owner, sha256)
        WHERE work_state IS NULL OR work_state IN ('queued', 'leased');
    """,
    # Pages read by OCR so far; NULL in older rows reads as 0.
    """
    ALTER TABLE documents ADD COLUMN pages_ocr INTEGER;
    """,
)


def add_functions(conn: sqlite3.Connection) -> None:
    """SQL functions our queries use: casefold(text), as Python's (SQLite's lower() is ASCII)."""
    conn.create_function("casefold", 1, _casefold, deterministic=True)


def _casefold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None


class Database:
    """A SQLite connection in WAL mode, driven by one worker thread so the loop never blocks."""

    def __init__(self, path: Path, migrations: Sequence[str] = MIGRATIONS) -> None:
        self._path = path
        self._migrations = migrations
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.run(self._open)

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(lambda: self._connection().close())
            self._conn = None
        self._executor.shutdown(wait=True)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("database is not open")
        return self._conn

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in one IMMEDIATE transaction (call on the database thread)."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return result

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn outside a write transaction (call on the database thread)."""
        return fn(self._connection())

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Read rows (call on the database thread)."""
        return self._connection().execute(sql, params).fetchall()

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed upload survives a power cut, not only a crash.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        add_functions(conn)
        self._conn = conn
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        (current,) = conn.execute("PRAGMA user_version").fetchone()
        for version, script in enumerate(self._migrations[current:], start=current + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={version}")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()


class ReadPool:
    """Read-only connections to a WAL database, one per thread, so that reads run side by side,
    with each other and with the writer (WAL readers never block, nor are blocked by, it)."""

    def __init__(self, path: Path, size: int) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn with this thread's connection, on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=5000")
            add_functions(conn)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn
