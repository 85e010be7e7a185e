"""Derived artifacts stored beside the PDF: page readings and the summary, as JSON blobs.

`pages.json` format 2 holds each page's reading (text, blocks, how it was read); format 1,
written before blocks existed, holds only page texts and is still read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from docquery.domain.documents import (
    format_timestamp,
    pages_key_for,
    parse_timestamp,
    summary_key_for,
)
from docquery.domain.processing import Page, Statement, Summary, SummarySection
from docquery.domain.reading import Block, BlockKind, PageReading, page_from_dict, page_to_dict
from docquery.errors import StorageError
from docquery.ports import BlobStore

FORMAT_VERSION = 1
# pages.json: 1 = page texts only, 2 = page readings (text, blocks, source, OCR confidence).
PAGES_FORMAT = 2


async def write_json(blobs: BlobStore, key: str, payload: dict[str, Any]) -> None:
    writer = blobs.open_writer(key, content_type="application/json")
    try:
        await writer.write(json.dumps(payload, ensure_ascii=False).encode())
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def read_json(blobs: BlobStore, key: str) -> dict[str, Any]:
    data = b"".join([chunk async for chunk in blobs.read(key)])
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise StorageError("a stored artifact is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise StorageError("a stored artifact has an unexpected shape")
    return payload


async def save_reading(blobs: BlobStore, document_id: str, pages: Sequence[PageReading]) -> None:
    """Store the document's page readings as pages.json (format 2)."""
    await write_json(
        blobs,
        pages_key_for(document_id),
        {"format": PAGES_FORMAT, "pages": [page_to_dict(page) for page in pages]},
    )


async def load_reading(blobs: BlobStore, document_id: str) -> list[PageReading]:
    """The page readings; a format-1 page becomes one paragraph block of its text."""
    payload = await read_json(blobs, pages_key_for(document_id))
    version = payload.get("format")
    try:
        if version == PAGES_FORMAT:
            return [page_from_dict(item) for item in payload["pages"]]
        if version == 1:
            return [_legacy_reading(item) for item in payload["pages"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError("a stored page artifact has an unexpected shape") from exc
    raise StorageError("a stored page artifact has an unknown format")


async def load_pages(blobs: BlobStore, document_id: str) -> list[Page]:
    """The page texts (what search, answers and summaries read), from either format."""
    return [Page(page.number, page.text) for page in await load_reading(blobs, document_id)]


def reading_of_text(number: int, text: str) -> PageReading:
    """A page known only by its text: one paragraph block with no box, no page size."""
    blocks = (Block(BlockKind.PARAGRAPH, text, (0.0, 0.0, 0.0, 0.0)),) if text.strip() else ()
    return PageReading(number=number, text=text, blocks=blocks, width=0, height=0)


def _legacy_reading(item: dict[str, Any]) -> PageReading:
    # Format 1 kept no layout.
    return reading_of_text(int(item["number"]), str(item["text"]))


async def save_summary(blobs: BlobStore, document_id: str, summary: Summary) -> None:
    await write_json(
        blobs,
        summary_key_for(document_id),
        {
            "format": FORMAT_VERSION,
            "model_id": summary.model_id,
            "created_at": format_timestamp(summary.created_at),
            "sections": [
                {
                    "name": section.name,
                    "statements": [
                        {"text": statement.text, "pages": list(statement.pages)}
                        for statement in section.statements
                    ],
                }
                for section in summary.sections
            ],
        },
    )


async def load_summary(blobs: BlobStore, document_id: str) -> Summary:
    payload = await read_json(blobs, summary_key_for(document_id))
    return Summary(
        sections=tuple(
            SummarySection(
                name=str(section["name"]),
                statements=tuple(
                    Statement(str(item["text"]), tuple(int(p) for p in item["pages"]))
                    for item in section["statements"]
                ),
            )
            for section in payload["sections"]
        ),
        model_id=str(payload["model_id"]),
        created_at=parse_timestamp(str(payload["created_at"])),
    )
