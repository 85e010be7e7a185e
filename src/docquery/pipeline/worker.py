"""The pipeline's runner: claims due documents, processes a bounded number at once, sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass

from docquery.domain.documents import document_prefix, utcnow
from docquery.domain.pipeline_rules import released, requeued
from docquery.domain.processing import Failure, FailureCode
from docquery.errors import DocQueryError, LeaseLost, NotFound
from docquery.pipeline.leases import LeaseKeeper
from docquery.pipeline.processing import Processor
from docquery.ports import DocumentStore
from docquery.services import deletes

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    concurrency: int
    lease_seconds: float
    sweep_interval_seconds: float
    idle_poll_seconds: float = 2.0
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 300.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Pipeline:
    """Runs in every replica: claims work while running, sweeps expired leases and unfinished
    deletes, stops cleanly."""

    def __init__(
        self, *, documents: DocumentStore, processor: Processor, settings: WorkerSettings
    ) -> None:
        self._documents = documents
        self._processor = processor
        self._settings = settings
        self.worker_id = new_worker_id()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._running: dict[asyncio.Task[None], LeaseKeeper] = {}
        self._loops: list[asyncio.Task[None]] = []

    @property
    def in_flight(self) -> int:
        """Documents being processed now (a Lambda invocation waits for none to be left)."""
        return len(self._running)

    def notify(self) -> None:
        """New work may be due (an upload, a reprocess): look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="pipeline-claim"),
            asyncio.create_task(self._sweep_loop(), name="pipeline-sweep"),
        ]

    async def stop(self, *, grace_seconds: float) -> None:
        """Stop claiming, give unfinished documents back, and return within the grace period."""
        deadline = asyncio.get_running_loop().time() + grace_seconds
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        in_flight = dict(self._running)
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.wait(in_flight, timeout=grace_seconds / 2)
        releases = [self._release(keeper) for keeper in in_flight.values() if keeper.held]
        left = max(deadline - asyncio.get_running_loop().time(), 0.5)
        with contextlib.suppress(TimeoutError):
            # Whatever is not handed back in time, the sweeper re-queues when its lease expires.
            await asyncio.wait_for(asyncio.gather(*releases), timeout=left)

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                document = await self._documents.claim(
                    worker=self.worker_id, now=utcnow(), lease_seconds=self._settings.lease_seconds
                )
            except (DocQueryError, OSError):
                log.warning("pipeline.claim_failed")
                document = None
            if document is None:
                self._slots.release()
                await self._idle()
                continue
            keeper = LeaseKeeper(
                self._documents, document, lease_seconds=self._settings.lease_seconds
            )
            task = asyncio.create_task(self._run(keeper), name=f"process-{document.id}")
            self._running[task] = keeper
            task.add_done_callback(self._finished)

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._settings.idle_poll_seconds)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._slots.release()

    async def _run(self, keeper: LeaseKeeper) -> None:
        current = asyncio.current_task()
        assert current is not None
        beat = asyncio.create_task(keeper.heartbeat(on_lost=current.cancel))
        try:
            await self._processor.process(keeper)
        except LeaseLost:
            await self._clean_up_if_deleted(keeper)
        except asyncio.CancelledError:
            if not keeper.held:  # the lease slipped away: another worker has it now
                await self._clean_up_if_deleted(keeper)
            raise
        except Exception as exc:
            await self._retry_later(keeper, exc)
        finally:
            beat.cancel()

    async def _retry_later(self, keeper: LeaseKeeper, exc: Exception) -> None:
        document = keeper.document
        code = (
            FailureCode.STORAGE_ERROR if isinstance(exc, DocQueryError) else FailureCode.WORKER_LOST
        )
        delay = min(
            self._settings.retry_cap_seconds,
            self._settings.retry_base_seconds * 2 ** max(document.attempts - 1, 0),
        )
        delay = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
        log.warning(
            "pipeline.retry_scheduled",
            extra={
                "document_id": document.id,
                "code": code.value,
                "error_type": type(exc).__name__,
            },
        )
        failure = Failure(code, "processing failed and will be retried")
        with contextlib.suppress(DocQueryError):
            await keeper.update(lambda d: requeued(d, now=utcnow(), delay=delay, failure=failure))

    async def _release(self, keeper: LeaseKeeper) -> None:
        with contextlib.suppress(DocQueryError):
            await keeper.update(lambda d: released(d, now=utcnow()))
            log.info("pipeline.released", extra={"document_id": keeper.document.id})

    async def _clean_up_if_deleted(self, keeper: LeaseKeeper) -> None:
        """A document deleted mid-processing may have had artifacts written, or its pages
        indexed, after the delete."""
        document = keeper.document
        try:
            await self._documents.get(owner=document.owner, document_id=document.id)
        except NotFound:
            await self._processor.index.remove(document.id)
            await self._processor.blobs.delete_prefix(document_prefix(document.id))
        except DocQueryError:
            pass

    async def _sweep_loop(self) -> None:
        # The first round runs at start: what a crash left half-done is finished at once.
        while True:
            for sweep in (self.sweep_deletes, self.sweep):
                try:
                    await sweep()
                except (DocQueryError, OSError):
                    log.warning("pipeline.sweep_failed")
            await asyncio.sleep(self._settings.sweep_interval_seconds)

    async def sweep_deletes(self) -> int:
        """Finish deletes a crash or an outage interrupted, and remove the bytes and
        reservations of uploads that never completed; returns how many."""
        return await deletes.sweep_hidden(
            now=utcnow(),
            limit=SWEEP_BATCH,
            documents=self._documents,
            blobs=self._processor.blobs,
            index=self._processor.index,
        )

    async def sweep(self) -> int:
        """Put documents whose worker died back in the queue; returns how many."""
        now = utcnow()
        requeued_count = 0
        for document in await self._documents.expired_leases(now=now, limit=SWEEP_BATCH):
            lease = document.lease
            if lease is None:
                continue
            try:
                await self._documents.save_work(requeued(document, now=now), lease=lease)
            except LeaseLost:
                continue  # renewed or finished meanwhile
            requeued_count += 1
            log.info("pipeline.requeued", extra={"document_id": document.id})
        if requeued_count:
            self.notify()
        return requeued_count
