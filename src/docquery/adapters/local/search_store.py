"""OwnerIndexes: a Tantivy index per owner under one directory, and the one writer per index.

An index per owner keeps BM25's statistics (document frequencies, average lengths) per owner:
one owner's scores never move with what another owner uploads. Writes are applied on one
thread, in batches: every write waiting when a batch starts goes into it, each touched index
commits once, its searchers reload, and then the writes return (so a write is searchable
when it returns). Writers hold a memory arena each, so only the most recently used few are
kept open; searching needs none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tantivy import Index, IndexWriter, Occur, Query

from docquery.adapters.local.search_schema import SCHEMA, stored
from docquery.text.analysis import ANALYZER, stemming_analyzer

log = logging.getLogger(__name__)

T = TypeVar("T")
# A writer's arena: it flushes a segment when full. Commits come long before that, so what a
# writer really holds is the batch being written; the cap bounds a huge batch.
WRITER_HEAP_BYTES = 32_000_000
# Writers kept open (least recently used closed first): each may hold up to its heap.
MAX_OPEN_WRITERS = 4
OWNER_FILE = "owner"


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
    index.config_reader(reload_policy="manual")  # reloaded after each of our commits
    return index


class OwnerIndexes:
    """Every owner's index, opened at start; writers opened on demand, a few at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._indexes: dict[str, OwnerIndex] = {}
        self._writers: OrderedDict[str, OwnerIndex] = OrderedDict()

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in sorted(self.root.iterdir()):
            owner_file = folder / OWNER_FILE
            if owner_file.is_file():
                owner = owner_file.read_text(encoding="utf-8")
                self._indexes[owner] = OwnerIndex(owner, folder, _open_index(folder))
            elif folder.is_dir():  # made but never finished: nothing in it was committed
                shutil.rmtree(folder, ignore_errors=True)

    def owners(self) -> list[str]:
        return list(self._indexes)

    def get(self, owner: str) -> OwnerIndex | None:
        return self._indexes.get(owner)

    def create(self, owner: str) -> OwnerIndex:
        found = self._indexes.get(owner)
        if found is not None:
            return found
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
            entry.writer = entry.index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
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
            collector = entry.index.writer(heap_size=15_000_000, num_threads=1)
            collector.garbage_collect_files()
            collector.wait_merging_threads()

    def records(self, owner: str) -> list[tuple[str, bytes]]:
        """Every (document id, record JSON) in the owner's index."""
        entry = self._indexes.get(owner)
        if entry is None:
            return []
        searcher = entry.index.searcher()
        found = []
        # Records are the index documents without a page.
        records = Query.boolean_query(
            [(Occur.Must, Query.all_query()), (Occur.MustNot, Query.exists_query("page"))]
        )
        result = searcher.search(records, max(1, searcher.num_docs))
        for _, address in result.hits:
            doc = searcher.doc(address)
            found.append((str(stored(doc, "document_id")), bytes(stored(doc, "record"))))
        return found


class Batches:
    """Writes applied in order on one thread, committed together (a group commit)."""

    def __init__(self, indexes: OwnerIndexes) -> None:
        self._indexes = indexes
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._pending: list[tuple[Callable[[OwnerIndexes], None], asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[OwnerIndexes], None]) -> None:
        """Apply `write` in the next batch; return once the batch is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="search-writes")
        await asyncio.shield(done)

    async def call(self, work: Callable[[OwnerIndexes], T]) -> T:
        """Run `work` on the writer's thread, between batches (opening, closing)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, work, self._indexes)

    async def close(self) -> None:
        if self._draining is not None:
            await self._draining
        await self.call(lambda indexes: indexes.close())
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
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
