"""Document records for store tests."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

from docquery.domain.documents import (
    Document,
    DocumentStatus,
    blob_key_for,
    new_document_id,
)

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_document(owner: str = "alice", n: int = 0, **changes: object) -> Document:
    document_id = new_document_id()
    created = BASE_TIME + timedelta(minutes=n)
    document = Document(
        id=document_id,
        owner=owner,
        title=f"Document {n}",
        filename=f"doc-{n}.pdf",
        content_type="application/pdf",
        size=100 + n,
        sha256=hashlib.sha256(f"{owner}-{n}-{document_id}".encode()).hexdigest(),
        blob_key=blob_key_for(document_id),
        tags=("lab",) if n % 2 == 0 else ("discharge", "cardiology"),
        status=DocumentStatus.QUEUED,
        created_at=created,
        updated_at=created,
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]
