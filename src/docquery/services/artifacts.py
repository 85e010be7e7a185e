"""Derived artifacts stored beside the PDF: page texts and the summary, as JSON blobs."""

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
from docquery.errors import StorageError
from docquery.ports import BlobStore

FORMAT_VERSION = 1


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


async def save_pages(blobs: BlobStore, document_id: str, pages: Sequence[Page]) -> None:
    await write_json(
        blobs,
        pages_key_for(document_id),
        {
            "format": FORMAT_VERSION,
            "pages": [{"number": page.number, "text": page.text} for page in pages],
        },
    )


async def load_pages(blobs: BlobStore, document_id: str) -> list[Page]:
    payload = await read_json(blobs, pages_key_for(document_id))
    return [Page(int(item["number"]), str(item["text"])) for item in payload["pages"]]


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
