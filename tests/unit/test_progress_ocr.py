"""Progress counts the pages read by OCR: the record codec, the SQLite migration, the API."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from docquery.adapters.local.sqlite import MIGRATIONS, Database
from docquery.adapters.records import from_record, to_record
from docquery.api.schemas import DocumentOut
from docquery.domain.documents import DocumentStatus
from docquery.domain.pipeline_rules import extracting
from docquery.domain.processing import Progress
from docquery.wiring import open_services
from support.documents import make_document
from support.settings import embedded_settings


def test_a_record_keeps_the_ocr_page_count() -> None:
    document = extracting(make_document(), total=4, done=3, ocr=2)
    record = to_record(document)
    assert record["pages_ocr"] == 2
    assert from_record(record).progress == Progress(3, 4, ocr=2)


def test_a_record_from_before_the_ocr_count_reads_as_none_ocrd() -> None:
    record = to_record(extracting(make_document(), total=4, done=1))
    del record["pages_ocr"]
    assert from_record(record).progress == Progress(1, 4, ocr=0)


async def test_an_older_database_gains_the_column_and_its_rows_read_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = data / "docquery.sqlite3"
    old = Database(path, MIGRATIONS[:3])
    await old.open()
    document = extracting(make_document(), total=4, done=1)
    record = to_record(document)
    del record["pages_ocr"]
    record["tags"] = json.dumps(record["tags"])
    columns = ", ".join(record)
    sql = f"INSERT INTO documents ({columns}) VALUES ({', '.join('?' * len(record))})"  # noqa: S608
    await old.run(old.transaction, lambda conn: conn.execute(sql, list(record.values())))
    await old.close()

    async with open_services(embedded_settings(data)) as services:
        stored = await services.documents.get(owner="alice", document_id=document.id)

    assert stored.progress == Progress(1, 4, ocr=0)
    with closing(sqlite3.connect(path)) as conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    assert version == len(MIGRATIONS) == 4


def test_a_processing_document_shows_its_ocr_pages() -> None:
    document = extracting(make_document(), total=3, done=2, ocr=1)
    assert document.status is DocumentStatus.PROCESSING
    body = DocumentOut.of(document).model_dump(mode="json")
    assert body["progress"] == {"done": 2, "total": 3, "ocr_pages": 1}
