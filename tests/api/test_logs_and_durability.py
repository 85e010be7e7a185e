"""Logs carry no patient data; the embedded profile keeps everything across restarts."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from support.api import upload_ok
from support.harness import Harness
from support.pdfs import make_pdf

CANARY = "CANARY-7f3a-Jane-Doe-1957"


async def test_canary_from_file_title_and_tags_never_reaches_the_logs(
    harness: Harness, json_log: io.StringIO
) -> None:
    content = make_pdf(CANARY)
    document = await upload_ok(
        harness.alice,
        content,
        filename=f"{CANARY}.pdf",
        data={"title": CANARY, "tags": CANARY.lower()},
    )
    path = f"/v1/documents/{document['id']}"
    await harness.alice.get(path)
    await harness.alice.get(f"{path}/content")
    await harness.alice.patch(path, json={"title": f"{CANARY} edited"})
    await harness.alice.get("/v1/documents", params={"tag": CANARY.lower()})
    await harness.alice.post(
        "/v1/documents", files={"file": (f"{CANARY}.pdf", b"not a pdf " + CANARY.encode())}
    )
    await harness.alice.delete(path)
    lines = json_log.getvalue().splitlines()
    access = [json.loads(line) for line in lines if '"http.request"' in line]
    assert len(access) >= 7
    assert {entry["route"] for entry in access} >= {"/v1/documents", "/v1/documents/{document_id}"}
    assert all("request_id" in entry for entry in access)
    assert any(entry.get("document_id") == document["id"] for entry in access)
    for line in lines:
        assert CANARY not in line
        assert CANARY.lower() not in line


async def test_log_fields_outside_the_allow_list_are_dropped(json_log: io.StringIO) -> None:
    logging.getLogger("docquery.test").info(
        "document.uploaded", extra={"document_id": "abc", "title": CANARY, "size": 3}
    )
    entry = json.loads(json_log.getvalue().splitlines()[-1])
    assert entry["event"] == "document.uploaded"
    assert entry["document_id"] == "abc"
    assert entry["size"] == 3
    assert "title" not in entry


@pytest.mark.parametrize("profile", ["embedded"])
async def test_everything_survives_a_restart(make_harness, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content = make_pdf("durable")
    async with make_harness() as first:
        document = await upload_ok(first.alice, content, data={"tags": "keep"})
        patched = await first.alice.patch(f"/v1/documents/{document['id']}", json={"title": "Kept"})
        assert patched.status_code == 200
        cursor_page = await first.alice.get("/v1/documents", params={"limit": 1})
    async with make_harness() as second:
        got = await second.alice.get(f"/v1/documents/{document['id']}")
        assert got.json() == patched.json()
        assert got.headers["etag"] == patched.headers["etag"]
        download = await second.alice.get(f"/v1/documents/{document['id']}/content")
        assert download.content == content
        assert (await second.alice.get("/v1/documents")).json() == cursor_page.json()
        again = await second.alice.post(
            "/v1/documents", files={"file": ("again.pdf", content, "application/pdf")}
        )
        assert again.status_code == 200
        assert again.json()["id"] == document["id"]
