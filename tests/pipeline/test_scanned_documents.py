"""Scans without a text layer and OCR off: no_text_layer; Textract's blocks on the aws profile.

Tesseract in the workers (OCR_ENGINE=tesseract, the embedded default) is tested with generated
scans in test_reading_api.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.textract.models import TextractBackend

from docquery.domain.reading import BlockKind, PageSource
from docquery.services import artifacts
from support.api import settled, upload_ok, wait_for_document
from support.bad_pdfs import scanned_pdf
from support.harness import HarnessFactory
from support.textract_analysis import Analysis


def line(page: int, text: str) -> dict[str, Any]:
    return {"BlockType": "LINE", "Page": page, "Text": text, "Id": f"{page}-{text}"}


def script_textract(
    monkeypatch: pytest.MonkeyPatch, *, status: str, pages: int, lines: list[dict[str, Any]]
) -> None:
    """What moto's Textract answers next (its server runs in this process)."""
    monkeypatch.setattr(TextractBackend, "JOB_STATUS", status)
    monkeypatch.setattr(TextractBackend, "PAGES", pages)
    monkeypatch.setattr(TextractBackend, "BLOCKS", lines)


async def test_a_scan_without_ocr_fails_with_no_text_layer(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness(ocr_engine="off") as h:
        document = await upload_ok(h.alice, scanned_pdf(pages=2))
        final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "no_text_layer"


@pytest.mark.parametrize("profile", ["aws"])
async def test_textract_reads_a_scan_on_the_aws_profile(
    make_pipeline_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = Analysis()
    first = doc.page(1)
    doc.text(first, "LAYOUT_TITLE", "Referral letter.", (0.1, 0.05, 0.5, 0.04))
    doc.text(first, "LAYOUT_TEXT", "Patient seen for persistent cough.", (0.1, 0.12, 0.6, 0.02))
    doc.page(2)
    third = doc.page(3)
    doc.table(
        third, [["Study", "Finding"], ["Chest X-ray", "no consolidation"]], (0.1, 0.1, 0.6, 0.1)
    )
    script_textract(monkeypatch, status="SUCCEEDED", pages=3, lines=doc.blocks)
    async with make_pipeline_harness(textract_enabled=True) as h:
        document = await upload_ok(h.alice, scanned_pdf(pages=3))
        final = await wait_for_document(h.alice, document["id"], settled)
        assert final["status"] == "ready", final
        assert final["page_count"] == 3
        text = (await h.alice.get(f"/v1/documents/{document['id']}/text")).json()
        readings = await artifacts.load_reading(h.stores.blobs, document["id"])
    assert [page["text"] for page in text["pages"]] == [
        "Referral letter.\nPatient seen for persistent cough.",
        "",
        "Study\nFinding\nChest X-ray\nno consolidation",
    ]
    # The stored artifact holds Textract's blocks, not only its lines.
    assert [[b.kind for b in page.blocks] for page in readings] == [
        [BlockKind.HEADING, BlockKind.PARAGRAPH],
        [],
        [BlockKind.TABLE],
    ]
    assert {page.source for page in readings} == {PageSource.OCR}
    assert final["summary_status"] == "ready"


@pytest.mark.parametrize("profile", ["aws"])
async def test_textract_finding_nothing_is_still_no_text_layer(
    make_pipeline_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_textract(monkeypatch, status="SUCCEEDED", pages=2, lines=[])
    async with make_pipeline_harness(textract_enabled=True) as h:
        document = await upload_ok(h.alice, scanned_pdf(pages=2))
        final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "no_text_layer"


@pytest.mark.parametrize("profile", ["aws"])
async def test_textract_refusing_the_document_is_ocr_failed(
    make_pipeline_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_textract(monkeypatch, status="FAILED", pages=2, lines=[])
    async with make_pipeline_harness(textract_enabled=True) as h:
        document = await upload_ok(h.alice, scanned_pdf(pages=2))
        final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "ocr_failed"
