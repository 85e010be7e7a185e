"""Deletes are crash-safe: a document is whole or gone, racing deletes answer one 204, and the
sweeper finishes what an outage or a crash interrupted (issue 9, items 7 to 9)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from docquery.domain.documents import WorkState, utcnow
from docquery.errors import StorageError
from docquery.ports import BlobStore
from docquery.services import deletes
from support.api import assert_problem, upload_ok
from support.harness import Harness
from support.pdfs import make_pdf


class BlobDeletesFail:
    """The harness's blob store, except that deleting fails as an S3 outage would."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self.attempts = 0

    async def delete_prefix(self, prefix: str) -> None:
        self.attempts += 1
        raise StorageError("S3 delete failed: InternalError")

    def __getattr__(self, name: str) -> object:
        return getattr(self._blobs, name)


async def sweep(h: Harness) -> int:
    return await deletes.sweep_hidden(
        now=utcnow(),
        limit=100,
        documents=h.stores.documents,
        blobs=h.stores.blobs,
        index=h.stores.search_index,
    )


async def assert_gone(h: Harness, document_id: str) -> None:
    for path in ("", "/content", "/text", "/summary"):
        response = await h.alice.get(f"/v1/documents/{document_id}{path}")
        assert_problem(response, 404, "not_found")
    listed = (await h.alice.get("/v1/documents")).json()["items"]
    assert document_id not in [item["id"] for item in listed]


async def test_ten_racing_deletes_answer_one_204_and_nine_404(harness: Harness) -> None:
    h = harness
    document = await upload_ok(h.alice, make_pdf("raced"))
    responses = await asyncio.gather(
        *(h.alice.delete(f"/v1/documents/{document['id']}") for _ in range(10))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [204] + [404] * 9, [r.text for r in responses if r.status_code >= 500]
    assert await h.blob_keys() == []
    await assert_gone(h, document["id"])


async def test_a_delete_interrupted_after_the_mark_hides_the_document_until_swept(
    harness: Harness,
) -> None:
    h = harness
    content = make_pdf("half deleted")
    document = await upload_ok(h.alice, content)
    failing = BlobDeletesFail(h.stores.blobs)
    await deletes.delete_document(
        owner="alice",
        document_id=document["id"],
        documents=h.stores.documents,
        blobs=failing,  # type: ignore[arg-type]
        index=h.stores.search_index,
    )
    assert failing.attempts == 1
    # Not "present but unsearchable": gone for every reader, though its bytes are still stored.
    await assert_gone(h, document["id"])
    assert await h.blob_keys() == [f"documents/{document['id']}/original.pdf"]
    assert_problem(await h.alice.delete(f"/v1/documents/{document['id']}"), 404, "not_found")
    # The same bytes during the half-done delete make a new document, never the dying one.
    again = await upload_ok(h.alice, content)
    assert again["id"] != document["id"]
    # The store is back: the sweeper finishes the delete, and leaves the new document alone.
    assert await sweep(h) == 1
    assert await h.blob_keys() == [f"documents/{again['id']}/original.pdf"]
    assert await h.stores.documents.hidden_due(now=utcnow(), limit=10) == []
    assert (await h.alice.get(f"/v1/documents/{again['id']}/content")).content == content
    assert await sweep(h) == 0


async def test_an_upload_that_never_completed_is_swept_with_its_bytes(harness: Harness) -> None:
    """A crash between committing the bytes and completing the record leaves a reservation."""
    h = harness
    document = await upload_ok(h.alice, make_pdf("interrupted upload"))
    # The state a kill -9 leaves after the commit: bytes stored, the record still reserved.
    stored = await h.stores.documents.mark_deleting(
        owner="alice", document_id=document["id"], now=utcnow()
    )
    await h.stores.documents.delete(owner="alice", document_id=document["id"])
    due = utcnow() + timedelta(seconds=30)
    reservation = dataclasses.replace(stored, work_state=WorkState.UPLOADING, work_due_at=due)
    await h.stores.documents.reserve(reservation)
    await assert_gone(h, document["id"])
    assert await sweep(h) == 0  # its upload may still be completing it
    assert await h.blob_keys() == [f"documents/{document['id']}/original.pdf"]
    later = await deletes.sweep_hidden(
        now=due,
        limit=100,
        documents=h.stores.documents,
        blobs=h.stores.blobs,
        index=h.stores.search_index,
    )
    assert later == 1
    assert await h.blob_keys() == []
    assert await h.stores.documents.hidden_due(now=due, limit=10) == []
