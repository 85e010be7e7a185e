"""pages.json: page readings round-trip (format 2), and format-1 artifacts still load."""

from __future__ import annotations

import json

import pytest

from docquery.domain.documents import pages_key_for
from docquery.domain.processing import Page
from docquery.domain.reading import (
    Block,
    BlockKind,
    Cell,
    PageReading,
    PageSource,
    Row,
    Table,
)
from docquery.errors import StorageError
from docquery.ports import BlobStore
from docquery.services import artifacts


def _reading() -> list[PageReading]:
    table = Table(
        rows=(
            Row((Cell("Test"), Cell("Result")), is_header=True),
            Row((Cell("Hb", "Test"), Cell("13.2", "Result"))),
        ),
        table_id="t1",
    )
    return [
        PageReading(
            number=1,
            text="Clinic header\nLabs\nTest Result\nHb 13.2",
            blocks=(
                Block(BlockKind.FURNITURE, "Clinic header", (10, 5, 200, 15)),
                Block(BlockKind.HEADING, "Labs", (10, 30, 60, 42), level=1),
                Block(
                    BlockKind.TABLE,
                    "Test Result\nHb 13.2",
                    (10, 50, 300, 90),
                    ("Labs",),
                    table=table,
                ),
            ),
            width=612,
            height=792,
        ),
        PageReading(
            number=2,
            text="scanned words",
            blocks=(Block(BlockKind.PARAGRAPH, "scanned words", (20, 20, 120, 32)),),
            width=612,
            height=792,
            source=PageSource.OCR,
            ocr_confidence=0.91,
        ),
    ]


async def _put(blobs: BlobStore, key: str, payload: object) -> None:
    writer = blobs.open_writer(key, content_type="application/json")
    await writer.write(json.dumps(payload).encode())
    await writer.commit()


async def test_a_reading_round_trips_with_blocks_source_and_confidence(
    blob_store: BlobStore,
) -> None:
    pages = _reading()
    await artifacts.save_reading(blob_store, "doc-1", pages)
    assert await artifacts.load_reading(blob_store, "doc-1") == pages
    assert await artifacts.load_pages(blob_store, "doc-1") == [
        Page(1, pages[0].text),
        Page(2, "scanned words"),
    ]


async def test_a_format_1_artifact_loads_as_one_paragraph_per_non_empty_page(
    blob_store: BlobStore,
) -> None:
    legacy = {"format": 1, "pages": [{"number": 1, "text": "Old text"}, {"number": 2, "text": " "}]}
    await _put(blob_store, pages_key_for("old"), legacy)
    first, second = await artifacts.load_reading(blob_store, "old")
    assert (first.number, first.text, first.source) == (1, "Old text", PageSource.TEXT_LAYER)
    assert [(b.kind, b.text) for b in first.blocks] == [(BlockKind.PARAGRAPH, "Old text")]
    assert (second.number, second.blocks) == (2, ())
    assert await artifacts.load_pages(blob_store, "old") == [Page(1, "Old text"), Page(2, " ")]


@pytest.mark.parametrize("payload", [{"format": 9, "pages": []}, {"format": 2, "pages": [{}]}])
async def test_an_unknown_or_broken_artifact_is_a_storage_error(
    blob_store: BlobStore, payload: object
) -> None:
    await _put(blob_store, pages_key_for("bad"), payload)
    with pytest.raises(StorageError):
        await artifacts.load_reading(blob_store, "bad")
