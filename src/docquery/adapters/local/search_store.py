"""OwnerIndexes: a Tantivy index per owner under one directory, and the one writer per index.

An index per owner keeps BM25's statistics (document frequencies, average lengths) per owner:
one owner's scores never move with what another owner uploads. Writes are applied on one
thread, in batches: every write waiting when a batch starts goes into it, each touched index
commits once, its searchers reload, and then the writes return (so a write is searchable
when it returns). Tantivy allows one writer per index, across processes too (a command such
as `docquery reindex` may run beside the server): writers are opened for a run of batches and
closed when no write is waiting, their merges finished and old files collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tantivy import Index, IndexWriter, Query

from docquery.adapters.local.search_schema import SCHEMA, search_term, stored
from docquery.text.analysis import ANALYZER, stemming_analyzer

log = logging.getLogger(__name__)

T = TypeVar("T")
# A writer's arena: it flushes a segment when full. Commits come long before that, so what a
# writer really holds is the batch being written; the cap bounds a huge batch.
WRITER_HEAP_BYTES = 32_000_000
# Writers kept open (least recently used closed first): each may hold up to its heap.
MAX_OPEN_WRITERS = 4
OWNER_FILE = "owner"
# How long a write waits for another process's writer to let go of an index.
LOCK_WAIT_SECONDS = 30.0
# Writers are let go of after this long without a write (merges finished, files collected).
IDLE_SECONDS = 1.0


@dataclass
class OwnerIndex:
    owner: str
    path: Path
    index: Index
    writer: IndexWriter | None = None
    touched: bool = field(default=False)


def _open_index(path: Path) -> Index:
    index = Index(SCHEMA, path=str(path), reuse=True)
    index.register_tokenizer(ANALYZER, stemming_analyzer())
    # Reloaded at once after our own commits; another process's are seen within a second.
    index.config_reader(reload_policy="commit")
    return index


class OwnerIndexes:
    """Every owner's index, opened at start; writers opened on demand, a few at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._indexes: dict[str, OwnerIndex] = {}
        self._writers: OrderedDict[str, OwnerIndex] = OrderedDict()

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.refresh()

    def refresh(self) -> None:
        """Open the indexes made since (by this process or another)."""
        for owner_file in sorted(self.root.glob(f"*/{OWNER_FILE}")):
            owner = owner_file.read_text(encoding="utf-8")
            if owner not in self._indexes:
                folder = owner_file.parent
                self._indexes[owner] = OwnerIndex(owner, folder, _open_index(folder))

    def owners(self) -> list[str]:
        return list(self._indexes)

    def get(self, owner: str) -> OwnerIndex | None:
        if owner not in self._indexes:
            self.refresh()
        return self._indexes.get(owner)

    def holding(self, document_id: str) -> list[OwnerIndex]:
        """The indexes that hold the document: committed there, or written in this batch."""
        self.refresh()
        term = search_term(document_id)
        return [
            entry
            for entry in self._indexes.values()
            if entry.touched or entry.index.searcher().search(term, 1, count=False).hits
        ]

    def create(self, owner: str) -> OwnerIndex:
        found = self._indexes.get(owner)
        if found is not None:
            return found
        self.refresh()
        if owner in self._indexes:
            return self._indexes[owner]
        name = hashlib.sha256(owner.encode()).hexdigest()[:32]
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        entry = OwnerIndex(owner, folder, _open_index(folder))
        (folder / OWNER_FILE).write_text(owner, encoding="utf-8")  # last: marks it complete
        self._indexes[owner] = entry
        return entry

    def writer(self, entry: OwnerIndex) -> IndexWriter:
        """The owner's writer, opened if need be (closing the least recently used one)."""
        if entry.writer is None:
            while len(self._writers) >= MAX_OPEN_WRITERS:
                _, oldest = self._writers.popitem(last=False)
                self._close_writer(oldest)
            entry.writer = _writer(entry.index, WRITER_HEAP_BYTES)
        self._writers[entry.owner] = entry
        self._writers.move_to_end(entry.owner)
        entry.touched = True
        return entry.writer

    def commit(self) -> None:
        """Commit every index written to since the last commit; collect old files; reload."""
        for entry in self._indexes.values():
            if entry.touched and entry.writer is not None:
                entry.writer.commit()
                # Tantivy leaves the files of merged-away segments behind until asked.
                entry.writer.garbage_collect_files()
                entry.index.reload()
            entry.touched = False

    def rollback(self) -> None:
        for entry in self._indexes.values():
            if entry.touched and entry.writer is not None:
                entry.writer.rollback()
            entry.touched = False

    def close(self) -> None:
        for entry in list(self._writers.values()):
            self._close_writer(entry)
        self._writers.clear()

    def _close_writer(self, entry: OwnerIndex) -> None:
        writer, entry.writer = entry.writer, None
        if writer is not None:
            writer.commit()
            writer.wait_merging_threads()  # finishes merges, then frees the writer
            # What those last merges left behind is collected by a writer of no size.
            collector = _writer(entry.index, 15_000_000)
            collector.garbage_collect_files()
            collector.wait_merging_threads()

    def records(self, owner: str) -> list[tuple[str, bytes]]:
        """Every indexed document's (id, record JSON): one passage read per document, found
        among all the owner's passages by their fast `doc_key`."""
        entry = self.get(owner)
        if entry is None:
            return []
        searcher = entry.index.searcher()
        every = searcher.search(Query.all_query(), max(1, searcher.num_docs), count=False).hits
        addresses = [address for _, address in every]
        first = dict(zip(searcher.fast_field_values("doc_key", addresses), addresses, strict=True))
        found = []
        for address in first.values():
            doc = searcher.doc(address)
            found.append((str(stored(doc, "document_id")), bytes(stored(doc, "record"))))
        return found


def _writer(index: Index, heap: int) -> IndexWriter:
    """The index's writer, once any other process's has let go of it."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return index.writer(heap_size=heap, num_threads=1)
        except ValueError as exc:
            if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Batches:
    """Writes applied in order on one thread, committed together (a group commit)."""

    def __init__(self, indexes: OwnerIndexes) -> None:
        self._indexes = indexes
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._pending: list[tuple[Callable[[OwnerIndexes], None], asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    async def run(self, write: Callable[[OwnerIndexes], None]) -> None:
        """Apply `write` in the next batch; return once the batch is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, done))
        self._wake.set()
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="search-writes")
        await asyncio.shield(done)

    async def call(self, work: Callable[[OwnerIndexes], T]) -> T:
        """Run `work` on the writer's thread, between batches (opening, closing)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, work, self._indexes)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._draining is not None:
            await self._draining
        await self.call(lambda indexes: indexes.close())
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        """Apply batches while writes come; after IDLE_SECONDS with none, let go of the
        writers (another process may be waiting for one) and stop."""
        loop = asyncio.get_running_loop()
        while True:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(loop, batch)
            self._wake.clear()
            if self._pending:
                continue
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
                if self._pending:
                    continue
            try:
                await loop.run_in_executor(self._thread, self._indexes.close)
            except Exception as exc:  # the next batch opens them again
                log.warning("search.close_failed", extra={"error_type": type(exc).__name__})
            if not self._pending:
                return

    async def _commit(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Callable[[OwnerIndexes], None], asyncio.Future[None]]],
    ) -> None:
        try:
            await loop.run_in_executor(self._thread, self._apply, [w for w, _ in batch])
        except Exception as exc:  # every write of the batch failed with it
            log.warning("search.batch_failed", extra={"error_type": type(exc).__name__})
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _apply(self, writes: list[Callable[[OwnerIndexes], None]]) -> None:
        try:
            for write in writes:
                write(self._indexes)
            self._indexes.commit()
        except Exception:
            self._indexes.rollback()
            raise
