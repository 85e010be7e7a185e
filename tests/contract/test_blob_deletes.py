"""BlobStore contract: deleting a document's folder is idempotent, even while others delete it."""

from __future__ import annotations

import asyncio

import pytest

from docquery.errors import NotFound
from docquery.ports import BlobStore


async def put(store: BlobStore, key: str) -> None:
    writer = store.open_writer(key, content_type="application/json")
    await writer.write(b"{}")
    await writer.commit()


async def test_racing_deletes_of_one_folder_all_succeed(blob_store: BlobStore) -> None:
    keys = [f"documents/raced/part-{n}.json" for n in range(40)]
    await asyncio.gather(*(put(blob_store, key) for key in keys))
    await put(blob_store, "documents/kept/original.pdf")
    # A retried DELETE, the sweeper and a worker cleaning up may all remove one folder at once.
    await asyncio.gather(*(blob_store.delete_prefix("documents/raced/") for _ in range(10)))
    for key in keys:
        with pytest.raises(NotFound):
            await blob_store.stat(key)
    await blob_store.delete_prefix("documents/raced/")
    assert (await blob_store.stat("documents/kept/original.pdf")).size == 2
