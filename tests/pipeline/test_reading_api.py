"""Reading through the API: blocks and Markdown via /text, OCR of scans in the workers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from docquery.domain.processing import Progress
from docquery.wiring import open_services
from support.api import settled, upload_ok, wait_for_document
from support.harness import HarnessFactory
from support.reading_pdfs import (
    LAB_HEADER,
    LAB_X,
    Page,
    build_pdf,
    furnish,
    scanned,
    table_rows,
)

LEFT = [f"left column sentence number {i} about the history" for i in range(1, 8)]
RIGHT = [f"right column sentence number {i} about the plan" for i in range(1, 8)]


def lab_report() -> bytes:
    """Two pages with running headers and footers: a lab table, then a two-column letter."""
    first = furnish(Page(), 1, 2)
    first.text(54, 80, "Renal Function", size=16, bold=True)
    rows = [
        LAB_HEADER,
        ["Sodium", "134", "L", "mmol/L", "135 - 145"],
        ["Potassium", "4.2", "", "mmol/L", "3.5 - 5.3"],
        ["Urea", "6.1", "", "mmol/L", "2.5 - 7.8"],
    ]
    table_rows(first, LAB_X, 110, rows)
    second = furnish(Page(), 2, 2)
    second.text(54, 80, "Referral Letter", size=16, bold=True)
    second.lines(54, 120, LEFT)
    second.lines(320, 120, RIGHT)
    return build_pdf([first, second])


def letter() -> Page:
    page = Page()
    page.text(54, 60, "Clinic Letter", size=18, bold=True)
    page.text(54, 100, "Sodium: 134 mmol/L", size=12)
    page.lines(
        54,
        130,
        ["The patient reports less breathlessness", "and sleeps through the night."],
        size=12,
    )
    return page


async def ready_text(client: httpx.AsyncClient, pdf: bytes, query: str = "") -> dict[str, Any]:
    document = await upload_ok(client, pdf)
    final = await wait_for_document(client, document["id"], settled, within=120)
    assert final["status"] == "ready", final
    response = await client.get(f"/v1/documents/{document['id']}/text{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_text_keeps_its_shape_and_adds_blocks_and_markdown_on_request(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, lab_report())
        final = await wait_for_document(h.alice, document["id"], settled, within=120)
        assert final["status"] == "ready", final
        url = f"/v1/documents/{document['id']}/text"
        plain = (await h.alice.get(url)).json()
        rich = (
            await h.alice.get(url, params=[("include", "blocks"), ("include", "markdown")])
        ).json()
        bad = await h.alice.get(url, params={"include": "everything"})

    assert set(plain) == {"document_id", "page_count", "pages", "next_page"}
    assert [set(page) for page in plain["pages"]] == [{"number", "text"}] * 2
    # The page text stays whole (headers included): citations are verified against it.
    assert "Northfield Clinical Laboratory" in plain["pages"][0]["text"]
    assert [page["text"] for page in rich["pages"]] == [page["text"] for page in plain["pages"]]

    first, second = rich["pages"]
    assert (first["source"], first["ocr_confidence"]) == ("text_layer", None)
    kinds = [block["kind"] for block in first["blocks"]]
    assert {"furniture", "heading", "table"} <= set(kinds)
    (table,) = [block["table"] for block in first["blocks"] if block["kind"] == "table"]
    cells = [[cell["text"] for cell in row["cells"]] for row in table["rows"]]
    assert ["Sodium", "134", "L", "mmol/L", "135 - 145"] in cells
    assert table["rows"][0]["header"] is True

    assert "# Renal Function" in first["markdown"]
    assert "| Sodium | 134 | L | mmol/L | 135 - 145 |" in first["markdown"]
    assert "Northfield" not in first["markdown"] + second["markdown"]
    assert "Page 1 of 2" not in first["markdown"]
    # Two columns read column by column, not line across line.
    assert " ".join(LEFT) + "\n\n" + " ".join(RIGHT) in second["markdown"]
    assert bad.status_code == 422


async def test_a_scan_is_read_by_tesseract_with_its_confidence(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness(ocr_engine="tesseract") as h:
        text = await ready_text(h.alice, build_pdf([scanned(letter())]), "?include=blocks")

    (page,) = text["pages"]
    assert page["source"] == "ocr"
    assert page["ocr_confidence"] > 0.8
    assert "Clinic Letter" in page["text"]
    assert {"kind": "heading", "text": "Clinic Letter"}.items() <= page["blocks"][0].items()


@pytest.mark.parametrize("profile", ["embedded"])
async def test_a_mixed_pdf_gets_ocr_only_on_its_scanned_page(
    make_pipeline_harness: HarnessFactory,
) -> None:
    pages = [Page().text(54, 60, "Typed page one"), scanned(letter()), Page().text(54, 60, "Typed")]
    async with make_pipeline_harness() as h:
        text = await ready_text(h.alice, build_pdf(pages), "?include=blocks")

    assert [page["source"] for page in text["pages"]] == ["text_layer", "ocr", "text_layer"]
    assert [page["ocr_confidence"] is None for page in text["pages"]] == [True, False, True]
    assert "Clinic Letter" in text["pages"][1]["text"]


@pytest.mark.parametrize("profile", ["embedded"])
async def test_an_answer_from_a_scanned_page_says_it_was_read_by_ocr(
    make_pipeline_harness: HarnessFactory,
) -> None:
    pages = [Page().text(54, 60, "Typed cover page"), scanned(letter())]
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, build_pdf(pages))
        final = await wait_for_document(h.alice, document["id"], settled, within=120)
        assert final["status"] == "ready", final
        response = await h.alice.post(
            "/v1/query",
            json={"question": "What was the sodium?", "document_ids": [document["id"]]},
        )

    assert response.status_code == 200, response.text
    citations = response.json()["citations"]
    assert citations, response.text
    assert {(c["page"], c["read_by"]) for c in citations} == {(2, "ocr")}
    assert all(0 < c["ocr_confidence"] <= 1 for c in citations)


@pytest.mark.parametrize("profile", ["embedded"])
async def test_tesseract_past_its_page_limit_is_extraction_timeout(
    make_pipeline_harness: HarnessFactory,
) -> None:
    # 1 ms: Tesseract's own cancel stops recognition; the worker reports it and reads on.
    async with make_pipeline_harness(ocr_page_timeout_seconds=0.001) as h:
        document = await upload_ok(h.alice, build_pdf([scanned(letter())]))
        final = await wait_for_document(h.alice, document["id"], settled, within=120)
        after = await ready_text(h.alice, build_pdf([Page().text(54, 60, "Typed afterwards")]))
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "extraction_timeout"
    assert after["pages"][0]["text"] == "Typed afterwards"


@pytest.mark.parametrize("profile", ["embedded"])
async def test_a_scan_past_the_wall_clock_is_extraction_timeout_and_the_pool_recovers(
    make_pipeline_harness: HarnessFactory,
) -> None:
    # Three OCR pages take seconds; 0.3 s with no allowance per OCR page cannot cover them.
    slow = build_pdf([scanned(letter()) for _ in range(3)])
    settings = {"extract_timeout_seconds": 0.3, "ocr_page_allowance_seconds": 0}
    async with make_pipeline_harness(**settings) as h:
        document = await upload_ok(h.alice, slow)
        final = await wait_for_document(h.alice, document["id"], settled, within=120)
        after = await ready_text(h.alice, build_pdf([Page().text(54, 60, "Typed afterwards")]))
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "extraction_timeout"
    assert after["pages"][0]["text"] == "Typed afterwards"


@pytest.mark.parametrize("profile", ["embedded"])
async def test_healthz_answers_in_milliseconds_while_a_scan_is_read(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, build_pdf([scanned(letter()) for _ in range(3)]))
        timings: list[float] = []
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            response = await h.anonymous.get("/healthz")
            timings.append(loop.time() - started)
            assert response.status_code == 200
            current = (await h.alice.get(f"/v1/documents/{document['id']}")).json()
            if current["status"] != "queued" and current["stage"] != "extracting":
                break
            await asyncio.sleep(0.005)
    assert current["status"] in ("ready", "processing"), current
    assert len(timings) >= 20, "OCR ended before it could be measured"
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    assert p99 < 0.05, f"/healthz p99 {p99 * 1000:.1f} ms over {len(timings)} requests"


@pytest.mark.parametrize("profile", ["embedded"])
async def test_the_progress_counts_the_pages_read_by_ocr(
    make_pipeline_harness: HarnessFactory,
) -> None:
    pages = [scanned(letter()), Page().text(54, 60, "Typed page two"), scanned(letter())]
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, build_pdf(pages))
        final = await wait_for_document(h.alice, document["id"], settled, within=120)
        settings = h.settings
    assert final["status"] == "ready", final
    # The count the extraction ended with stays on the record (GET shows it while processing).
    async with open_services(settings) as stores:
        stored = await stores.documents.get(owner="alice", document_id=document["id"])
    assert stored.progress == Progress(3, 3, ocr=2)
