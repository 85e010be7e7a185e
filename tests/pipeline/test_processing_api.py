"""Upload → extract → ready → summary, end to end through the API, on both profiles."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

from support.api import assert_problem, settled, upload_ok, wait_for_document
from support.harness import Harness, HarnessFactory
from support.pdfs import SAMPLE_PDFS, sample_pdf

SAMPLES = {
    "minimal-document.pdf": 1,
    "pdflatex-4-pages.pdf": 4,
    "multicolumn.pdf": None,  # counted with pypdf below
    "google-doc-document.pdf": None,
}


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{4,}", text)


async def test_a_pdf_becomes_ready_with_text_and_a_cited_summary(
    pipeline_harness: Harness,
) -> None:
    h = pipeline_harness
    document = await upload_ok(h.alice, sample_pdf("pdflatex-4-pages.pdf"))
    final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "ready", final
    assert final["page_count"] == 4
    assert final["stage"] is None
    assert final["failure"] is None
    assert final["summary_status"] == "ready", final

    text = (await h.alice.get(f"/v1/documents/{document['id']}/text")).json()
    reader = PdfReader(SAMPLE_PDFS / "pdflatex-4-pages.pdf")
    assert text["page_count"] == 4
    assert [page["number"] for page in text["pages"]] == [1, 2, 3, 4]
    for page, expected in zip(text["pages"], reader.pages, strict=True):
        assert words(page["text"])[:20] == words(expected.extract_text())[:20]
    assert text["next_page"] is None
    second = (await h.alice.get(f"/v1/documents/{document['id']}/text?first_page=2&limit=2")).json()
    assert [page["number"] for page in second["pages"]] == [2, 3]
    assert second["next_page"] == 4

    summary = (await h.alice.get(f"/v1/documents/{document['id']}/summary")).json()
    assert summary["model_id"]
    assert summary["sections"], summary
    names = [section["name"] for section in summary["sections"]]
    assert names[0] == "overview"
    for section in summary["sections"]:
        assert section["statements"]
        for statement in section["statements"]:
            assert statement["text"].strip()
            assert statement["pages"]
            assert set(statement["pages"]) <= {1, 2, 3, 4}


async def test_every_sample_gets_its_page_count(pipeline_harness: Harness) -> None:
    h = pipeline_harness
    uploaded = {
        name: (await upload_ok(h.alice, sample_pdf(name), filename=name))["id"] for name in SAMPLES
    }
    uploaded_encrypted = await upload_ok(h.alice, sample_pdf("libreoffice-writer-password.pdf"))
    for name, document_id in uploaded.items():
        final = await wait_for_document(h.alice, document_id, settled)
        expected = len(PdfReader(SAMPLE_PDFS / name).pages)
        assert final["status"] == "ready", (name, final)
        assert final["page_count"] == expected, name
    encrypted = await wait_for_document(h.alice, uploaded_encrypted["id"], settled)
    assert encrypted["status"] == "failed"
    assert encrypted["failure"]["code"] == "encrypted_pdf"
    assert encrypted["summary_status"] == "failed"
    assert_problem(
        await h.alice.get(f"/v1/documents/{uploaded_encrypted['id']}/text"), 409, "not_ready"
    )
    assert_problem(
        await h.alice.get(f"/v1/documents/{uploaded_encrypted['id']}/summary"), 409, "not_ready"
    )


async def test_text_and_summary_are_409_until_ready(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:  # no pipeline: the document stays queued
        document = await upload_ok(h.alice)
        problem = assert_problem(
            await h.alice.get(f"/v1/documents/{document['id']}/text"), 409, "not_ready"
        )
        assert "queued" in problem["detail"]
        summary = assert_problem(
            await h.alice.get(f"/v1/documents/{document['id']}/summary"), 409, "not_ready"
        )
        assert summary["summary_status"] == "pending"


async def test_reprocess_runs_everything_again(pipeline_harness: Harness) -> None:
    h = pipeline_harness
    document = await upload_ok(h.alice, sample_pdf("minimal-document.pdf"))
    first = await wait_for_document(h.alice, document["id"], settled)
    assert first["status"] == "ready"
    response = await h.alice.post(f"/v1/documents/{document['id']}/reprocess")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert response.json()["page_count"] is None
    again = await wait_for_document(h.alice, document["id"], settled)
    assert again["status"] == "ready"
    assert again["summary_status"] == "ready"
    assert again["page_count"] == 1
    keys = await h.blob_keys()
    prefix = f"documents/{document['id']}/"
    assert sorted(keys) == [f"{prefix}original.pdf", f"{prefix}pages.json", f"{prefix}summary.json"]


async def test_delete_removes_every_artifact(pipeline_harness: Harness) -> None:
    h = pipeline_harness
    document = await upload_ok(h.alice, sample_pdf("minimal-document.pdf"))
    await wait_for_document(h.alice, document["id"], settled)
    assert len(await h.blob_keys()) == 3
    assert (await h.alice.delete(f"/v1/documents/{document['id']}")).status_code == 204
    assert await h.blob_keys() == []


@pytest.mark.parametrize("profile", ["embedded"])
async def test_disabled_model_marks_summaries_disabled(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness(language_model="disabled") as h:
        document = await upload_ok(h.alice, sample_pdf("minimal-document.pdf"))
        final = await wait_for_document(h.alice, document["id"], settled)
        assert final["status"] == "ready"
        assert final["summary_status"] == "disabled"
