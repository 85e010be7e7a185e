"""DocumentStore contract: upload reservations and documents being deleted are hidden records."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from docquery.domain.documents import (
    Document,
    DocumentChanges,
    ListQuery,
    WorkState,
)
from docquery.domain.pipeline_rules import extracting
from docquery.errors import AlreadyExists, DuplicateContent, LeaseLost, NotFound
from docquery.ports import DocumentStore
from support.documents import BASE_TIME, make_document

NOW = BASE_TIME + timedelta(hours=1)


def reservation(document: Document, *, due_in: float = 600) -> Document:
    return dataclasses.replace(
        document, work_state=WorkState.UPLOADING, work_due_at=NOW + timedelta(seconds=due_in)
    )


async def assert_hidden(store: DocumentStore, document: Document) -> None:
    """Not a document to any read, nor to the pipeline."""
    with pytest.raises(NotFound):
        await store.get(owner=document.owner, document_id=document.id)
    assert await store.get_many(owner=document.owner, document_ids=[document.id]) == {}
    assert await store.find_by_sha256(owner=document.owner, sha256=document.sha256) is None
    page = await store.list_page(ListQuery(owner=document.owner, limit=100))
    assert document.id not in [item.id for item in page.items]
    with pytest.raises(NotFound):
        await store.update(
            owner=document.owner,
            document_id=document.id,
            changes=DocumentChanges(title="x"),
            expected_version=None,
        )
    with pytest.raises(NotFound):
        await store.requeue(owner=document.owner, document_id=document.id, now=NOW)
    assert await store.claim(worker="w", now=NOW + timedelta(days=1), lease_seconds=30) is None


async def test_a_document_marked_deleting_is_hidden_and_its_bytes_are_free(
    document_store: DocumentStore,
) -> None:
    document = make_document()
    await document_store.create(document)
    marked = await document_store.mark_deleting(owner="alice", document_id=document.id, now=NOW)
    assert marked.work_state is WorkState.DELETING
    assert marked.hidden
    await assert_hidden(document_store, document)
    # An upload of the same bytes during the half-done delete is a new document, not the dying one.
    again = dataclasses.replace(make_document(n=1), sha256=document.sha256)
    await document_store.create(again)
    assert await document_store.find_by_sha256(owner="alice", sha256=document.sha256) == again
    assert [d.id for d in await document_store.hidden_due(now=NOW, limit=10)] == [document.id]
    assert (await document_store.delete(owner="alice", document_id=document.id)).id == document.id
    assert await document_store.hidden_due(now=NOW, limit=10) == []
    assert await document_store.get(owner="alice", document_id=again.id) == again


async def test_racing_marks_give_the_delete_to_exactly_one(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    results = await asyncio.gather(
        *(
            document_store.mark_deleting(owner="alice", document_id=document.id, now=NOW)
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(result, NotFound) for result in results) == 9
    assert sum(isinstance(result, Document) for result in results) == 1


async def test_marking_takes_the_lease_from_the_worker(document_store: DocumentStore) -> None:
    await document_store.create(dataclasses.replace(make_document(), work_due_at=BASE_TIME))
    claimed = await document_store.claim(worker="w", now=NOW, lease_seconds=30)
    assert claimed is not None
    assert claimed.lease is not None
    marked = await document_store.mark_deleting(owner="alice", document_id=claimed.id, now=NOW)
    assert marked.lease is None
    with pytest.raises(LeaseLost):
        await document_store.save_work(extracting(claimed), lease=claimed.lease)
    assert await document_store.expired_leases(now=NOW + timedelta(hours=1), limit=10) == []


async def test_a_reservation_is_hidden_until_the_upload_completes_it(
    document_store: DocumentStore,
) -> None:
    document = make_document()
    reserved = reservation(document)
    await document_store.reserve(reserved)
    await assert_hidden(document_store, document)
    # Two uploads of the same bytes may both reserve; the second to complete is the duplicate.
    twin = reservation(dataclasses.replace(make_document(n=1), sha256=document.sha256))
    await document_store.reserve(twin)
    await document_store.create(document)
    assert await document_store.get(owner="alice", document_id=document.id) == document
    with pytest.raises(DuplicateContent) as raised:
        await document_store.create(dataclasses.replace(twin, work_state=WorkState.QUEUED))
    assert raised.value.existing_id == document.id
    # The duplicate's reservation stays hidden, for its upload (or the sweeper) to remove.
    assert [
        d.id for d in await document_store.hidden_due(now=NOW + timedelta(hours=1), limit=9)
    ] == [twin.id]
    with pytest.raises(NotFound):  # a completed reservation is a document: never abandoned
        await document_store.abandon_reservation(reserved, now=NOW + timedelta(hours=1))


async def test_an_overdue_reservation_is_abandoned_then_deleted(
    document_store: DocumentStore,
) -> None:
    reserved = reservation(make_document(), due_in=60)
    await document_store.reserve(reserved)
    assert await document_store.hidden_due(now=NOW, limit=10) == []
    with pytest.raises(NotFound):  # not due yet: its upload may still complete it
        await document_store.abandon_reservation(reserved, now=NOW)
    later = NOW + timedelta(seconds=61)
    [due] = await document_store.hidden_due(now=later, limit=10)
    assert due.id == reserved.id
    abandoned = await document_store.abandon_reservation(due, now=later)
    assert abandoned.work_state is WorkState.DELETING
    # Too late for the upload: its record write fails instead of resurrecting it.
    with pytest.raises(AlreadyExists):
        await document_store.create(dataclasses.replace(reserved, work_state=WorkState.QUEUED))
    await document_store.delete(owner="alice", document_id=reserved.id)
    with pytest.raises(NotFound):
        await document_store.delete(owner="alice", document_id=reserved.id)
    with pytest.raises(NotFound):
        await document_store.get(owner="alice", document_id=reserved.id)
