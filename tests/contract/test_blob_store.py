"""BlobStore contract: the same behaviour from local files and from S3."""

from __future__ import annotations

import hashlib
import os

import pytest

from docquery.errors import NotFound
from docquery.ports import BlobStore
from support.settings import PART_SIZE


async def read_all(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def write(store: BlobStore, key: str, data: bytes, *, chunk: int = 64 * 1024) -> None:
    writer = store.open_writer(key, content_type="application/pdf")
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    await writer.commit()


@pytest.mark.parametrize("size", [0, 1, 100_000])
async def test_small_blobs_round_trip(blob_store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    await write(blob_store, "documents/a/original.pdf", data)
    assert await read_all(blob_store, "documents/a/original.pdf") == data
    assert (await blob_store.stat("documents/a/original.pdf")).size == size


async def test_blob_larger_than_several_parts_round_trips(blob_store: BlobStore) -> None:
    data = os.urandom(2 * PART_SIZE + 12345)
    await write(blob_store, "documents/big/original.pdf", data, chunk=1024 * 1024 + 7)
    stored = await read_all(blob_store, "documents/big/original.pdf")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert (await blob_store.stat("documents/big/original.pdf")).size == len(data)


async def test_nothing_is_visible_before_commit(blob_store: BlobStore) -> None:
    writer = blob_store.open_writer("documents/b/original.pdf", content_type="application/pdf")
    await writer.write(b"%PDF-" + os.urandom(PART_SIZE + 10))
    with pytest.raises(NotFound):
        await blob_store.stat("documents/b/original.pdf")
    await writer.commit()
    assert (await blob_store.stat("documents/b/original.pdf")).size == PART_SIZE + 15


@pytest.mark.parametrize("size", [10, PART_SIZE + 10])
async def test_abort_leaves_nothing(blob_store: BlobStore, size: int) -> None:
    writer = blob_store.open_writer("documents/c/original.pdf", content_type="application/pdf")
    await writer.write(os.urandom(size))
    await writer.abort()
    with pytest.raises(NotFound):
        await blob_store.stat("documents/c/original.pdf")
    with pytest.raises(NotFound):
        await read_all(blob_store, "documents/c/original.pdf")


async def test_missing_blob_is_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(NotFound):
        await blob_store.stat("documents/missing/original.pdf")
    with pytest.raises(NotFound):
        await read_all(blob_store, "documents/missing/original.pdf")


async def test_delete_prefix_removes_the_document_folder_only(blob_store: BlobStore) -> None:
    await write(blob_store, "documents/d/original.pdf", b"one")
    await write(blob_store, "documents/d/pages.json", b"two")
    await write(blob_store, "documents/dd/original.pdf", b"three")
    await blob_store.delete_prefix("documents/d/")
    for key in ("documents/d/original.pdf", "documents/d/pages.json"):
        with pytest.raises(NotFound):
            await blob_store.stat(key)
    assert await read_all(blob_store, "documents/dd/original.pdf") == b"three"
    await blob_store.delete_prefix("documents/d/")  # idempotent


async def test_overwrite_replaces_whole_blob(blob_store: BlobStore) -> None:
    await write(blob_store, "documents/e/original.pdf", b"first version, longer")
    await write(blob_store, "documents/e/original.pdf", b"second")
    assert await read_all(blob_store, "documents/e/original.pdf") == b"second"
