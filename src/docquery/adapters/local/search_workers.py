"""SearchWorkers: processes that score a search's rowid ranges side by side, or say they cannot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path

from docquery.adapters.local.search_sql import Ranked, rank_in_worker
from docquery.domain.search import SearchQuery

log = logging.getLogger(__name__)

# Worker pools lost in a row before searches are scored in the server instead.
MAX_POOLS_LOST = 3


class SearchWorkers:
    """A pool of `count` worker processes over one index file, made at the first search.

    Whenever the workers cannot score a search, `rank` returns None and the caller scores it
    in the server: a pool that lost a worker is replaced at the next search (three lost in a
    row, and the workers are given up); a pool that cannot be made or started at all (its locks
    are POSIX semaphores in /dev/shm, which a container may mount read-only or leave out) is
    given up at once, with one warning: that is the system's doing and would fail again.
    """

    def __init__(self, path: Path, count: int, *, context: BaseContext | None = None) -> None:
        self._path = path
        self._count = count
        # Fresh interpreters, not fork: the server has threads and an event loop.
        self._context = context or get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._pools_lost = 0

    @property
    def count(self) -> int:
        """The processes a search is split between; 0 once they are given up."""
        return self._count

    async def close(self) -> None:
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def rank(
        self, query: SearchQuery, ranges: Sequence[tuple[int, int]], wanted: int
    ) -> list[list[Ranked]] | None:
        """The best `wanted` matches of each rowid range, each scored by a worker; None if the
        workers cannot score it."""
        pool = self._worker_pool()
        if pool is None:
            return None
        try:
            futures = [pool.submit(rank_in_worker, self._path, query, r, wanted) for r in ranges]
        except BrokenProcessPool:
            self._pool_lost(pool)
            return None
        except Exception as exc:  # a worker process could not be started
            self._give_up(exc)
            return None
        try:
            parts = await asyncio.gather(*map(asyncio.wrap_future, futures))
        except BrokenProcessPool:
            self._pool_lost(pool)
            return None
        self._pools_lost = 0
        return list(parts)

    def _worker_pool(self) -> ProcessPoolExecutor | None:
        """The pool, made now if need be; None if none can be made."""
        if self._pool is None and self._count > 1:
            try:
                self._pool = ProcessPoolExecutor(self._count, mp_context=self._context)
            except Exception as exc:  # OSError from sem_open, NotImplementedError, ...
                self._give_up(exc)
        return self._pool

    def _pool_lost(self, pool: ProcessPoolExecutor) -> None:
        log.warning("search.workers_lost", extra={"count": self._count})
        if self._pool is not pool:
            return  # a concurrent search has replaced it already
        self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        self._pools_lost += 1
        if self._pools_lost >= MAX_POOLS_LOST:
            # Workers that cannot even start (a main module that serves on import, say)
            # would cost a spawn per search: score in the server from now on.
            log.error("search.workers_disabled", extra={"count": self._pools_lost})
            self._count = 0

    def _give_up(self, exc: Exception) -> None:
        """Score every search in the server from now on."""
        log.warning("search.workers_unavailable", extra={"error_type": type(exc).__name__})
        self._count = 0
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
