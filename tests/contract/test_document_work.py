"""DocumentStore contract, the pipeline's side: claims, fenced writes, expiry, requeue."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from docquery.domain.documents import Document, DocumentStatus, WorkState
from docquery.domain.pipeline_rules import (
    extracting,
    failed,
    indexing,
    readable,
    released,
    renewed,
    requeued,
)
from docquery.domain.processing import Failure, FailureCode, ProcessingStage, Progress
from docquery.errors import DocumentBusy, LeaseLost
from docquery.ports import DocumentStore
from support.documents import BASE_TIME, make_document

NOW = BASE_TIME + timedelta(hours=1)


def queued(n: int = 0, owner: str = "alice") -> Document:
    document = make_document(owner, n)
    return dataclasses.replace(document, work_due_at=document.created_at)


async def test_new_documents_are_claimable_oldest_first(document_store: DocumentStore) -> None:
    older, newer = queued(1), queued(2)
    await document_store.create(newer)
    await document_store.create(older)
    first = await document_store.claim(worker="w1", now=NOW, lease_seconds=30)
    second = await document_store.claim(worker="w1", now=NOW, lease_seconds=30)
    assert first is not None
    assert second is not None
    assert [first.id, second.id] == [older.id, newer.id]
    assert first.work_state is WorkState.LEASED
    assert first.lease_owner == "w1"
    assert first.attempts == 1
    assert first.lease_expires_at == NOW + timedelta(seconds=30)
    assert await document_store.claim(worker="w1", now=NOW, lease_seconds=30) is None


async def test_work_not_yet_due_is_not_claimed(document_store: DocumentStore) -> None:
    document = dataclasses.replace(queued(), work_due_at=NOW + timedelta(seconds=10))
    await document_store.create(document)
    assert await document_store.claim(worker="w", now=NOW, lease_seconds=30) is None
    later = await document_store.claim(worker="w", now=NOW + timedelta(seconds=11), lease_seconds=5)
    assert later is not None


async def test_racing_claims_give_the_document_to_exactly_one(
    document_store: DocumentStore,
) -> None:
    await document_store.create(queued())
    results = await asyncio.gather(
        *(document_store.claim(worker=f"w{n}", now=NOW, lease_seconds=30) for n in range(8))
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1


async def test_fenced_writes_need_the_current_lease(document_store: DocumentStore) -> None:
    await document_store.create(queued())
    claimed = await document_store.claim(worker="w1", now=NOW, lease_seconds=30)
    assert claimed is not None
    lease = claimed.lease
    assert lease is not None
    working = await document_store.save_work(extracting(claimed, total=4, done=1), lease=lease)
    assert working.status is DocumentStatus.PROCESSING
    assert working.stage is ProcessingStage.EXTRACTING
    assert working.progress == Progress(1, 4)
    assert working.version == claimed.version + 1
    stale = dataclasses.replace(lease, worker="w2")
    with pytest.raises(LeaseLost):
        await document_store.save_work(extracting(working, total=4, done=2), lease=stale)
    # A heartbeat moves the lease; the old one no longer fences.
    beat = await document_store.save_work(
        renewed(working, lease=lease, now=NOW, lease_seconds=60), lease=lease
    )
    assert beat.lease is not None
    assert beat.lease.expires_at == NOW + timedelta(seconds=60)
    with pytest.raises(LeaseLost):
        await document_store.save_work(working, lease=lease)
    final = await document_store.save_work(
        failed(beat, Failure(FailureCode.ENCRYPTED_PDF, "needs a password")), lease=beat.lease
    )
    assert final.status is DocumentStatus.FAILED
    assert final.failure == Failure(FailureCode.ENCRYPTED_PDF, "needs a password")
    assert final.work_state is None
    assert final.lease is None
    assert await document_store.get(owner="alice", document_id=final.id) == final
    assert await document_store.claim(worker="w3", now=NOW, lease_seconds=30) is None


async def test_expired_leases_are_found_and_requeued(document_store: DocumentStore) -> None:
    await document_store.create(queued())
    claimed = await document_store.claim(worker="dead", now=NOW, lease_seconds=30)
    assert claimed is not None
    assert claimed.lease is not None
    working = await document_store.save_work(extracting(claimed), lease=claimed.lease)
    assert await document_store.expired_leases(now=NOW + timedelta(seconds=29), limit=10) == []
    later = NOW + timedelta(seconds=31)
    [expired] = await document_store.expired_leases(now=later, limit=10)
    assert expired.id == claimed.id
    assert expired.lease is not None
    back = await document_store.save_work(requeued(expired, now=later), lease=expired.lease)
    assert back.status is DocumentStatus.QUEUED
    assert back.work_state is WorkState.QUEUED
    assert back.attempts == 1
    reclaimed = await document_store.claim(worker="alive", now=later, lease_seconds=30)
    assert reclaimed is not None
    assert reclaimed.attempts == 2
    # The dead worker's writes can no longer land.
    with pytest.raises(LeaseLost):
        await document_store.save_work(working, lease=claimed.lease)


async def test_release_does_not_count_as_an_attempt(document_store: DocumentStore) -> None:
    await document_store.create(queued())
    claimed = await document_store.claim(worker="w", now=NOW, lease_seconds=30)
    assert claimed is not None
    assert claimed.lease is not None
    back = await document_store.save_work(released(claimed, now=NOW), lease=claimed.lease)
    assert back.attempts == 0
    assert back.work_state is WorkState.QUEUED


async def test_requeue_resets_a_finished_document(document_store: DocumentStore) -> None:
    await document_store.create(queued())
    claimed = await document_store.claim(worker="w", now=NOW, lease_seconds=30)
    assert claimed is not None
    assert claimed.lease is not None
    with pytest.raises(DocumentBusy):
        await document_store.requeue(owner="alice", document_id=claimed.id, now=NOW)
    ready = readable(claimed, pages=3, summaries=False)
    finished = await document_store.save_work(
        failed(ready, Failure(FailureCode.NO_TEXT_LAYER, "x")), lease=claimed.lease
    )
    reset = await document_store.requeue(owner="alice", document_id=finished.id, now=NOW)
    assert reset.status is DocumentStatus.QUEUED
    assert reset.failure is None
    assert reset.page_count is None
    assert reset.attempts == 0
    assert reset.work_state is WorkState.QUEUED
    again = await document_store.claim(worker="w", now=NOW, lease_seconds=30)
    assert again is not None
    assert again.id == finished.id


async def test_the_ocr_page_count_of_progress_is_kept(document_store: DocumentStore) -> None:
    await document_store.create(queued())
    claimed = await document_store.claim(worker="w", now=NOW, lease_seconds=30)
    assert claimed is not None
    assert claimed.lease is not None
    working = await document_store.save_work(
        extracting(claimed, total=5, done=3, ocr=2), lease=claimed.lease
    )
    assert working.progress == Progress(3, 5, ocr=2)
    stored = await document_store.get(owner="alice", document_id=working.id)
    assert stored.progress == Progress(3, 5, ocr=2)
    # Indexing and after keep the count the extraction ended with.
    indexed = await document_store.save_work(indexing(working, pages=5), lease=claimed.lease)
    assert indexed.progress == Progress(5, 5, ocr=2)
