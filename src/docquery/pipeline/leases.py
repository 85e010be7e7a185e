"""LeaseKeeper: one worker's hold on one document, kept alive by heartbeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from docquery.domain.documents import Document, Lease, utcnow
from docquery.domain.pipeline_rules import renewed
from docquery.errors import LeaseLost
from docquery.ports import DocumentStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Serialises every write a worker makes to its document, each fenced by the current lease.

    Progress writes and heartbeats both move the record on; going through one lock and always
    applying changes to the latest record keeps the fence right and never rolls a heartbeat back.
    """

    def __init__(self, documents: DocumentStore, document: Document, *, lease_seconds: float):
        self._documents = documents
        self._lease_seconds = lease_seconds
        self._lock = asyncio.Lock()
        self.document = document

    @property
    def held(self) -> bool:
        return self.document.lease is not None

    async def update(self, change: Callable[[Document], Document]) -> Document:
        """Apply change to the latest record and write it; LeaseLost if the lease is gone."""
        async with self._lock:
            lease = self.document.lease
            if lease is None:
                raise LeaseLost(f"no lease on {self.document.id}")
            self.document = await self._documents.save_work(change(self.document), lease=lease)
            return self.document

    async def heartbeat(self, on_lost: Callable[[], object]) -> None:
        """Renew the lease every third of its length until cancelled; on_lost if it slips away."""
        interval = self._lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            if not self.held:
                return
            try:
                await self.update(
                    lambda current: renewed(
                        current,
                        lease=_lease_of(current),
                        now=utcnow(),
                        lease_seconds=self._lease_seconds,
                    )
                )
            except LeaseLost:
                log.warning("pipeline.lease_lost", extra={"document_id": self.document.id})
                on_lost()
                return
            except Exception:
                log.warning("pipeline.heartbeat_failed", extra={"document_id": self.document.id})


def _lease_of(document: Document) -> Lease:
    lease = document.lease
    if lease is None:
        raise LeaseLost(f"no lease on {document.id}")
    return lease
