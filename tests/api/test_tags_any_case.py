"""Tags match case-insensitively everywhere (list, PATCH, bulk, upload) and are shown as given."""

from __future__ import annotations

from typing import Any

from support.api import upload_ok
from support.harness import Harness
from support.pdfs import make_pdf


async def _document(harness: Harness, document_id: str) -> dict[str, Any]:
    response = await harness.alice.get(f"/v1/documents/{document_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _bulk(harness: Harness, action: str, document_id: str, tags: list[str]) -> None:
    body = {"action": action, "ids": [document_id], "tags": tags}
    response = await harness.alice.post("/v1/documents/bulk", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["succeeded"] == 1, response.json()


async def test_the_list_filter_matches_a_tag_in_any_case(harness: Harness) -> None:
    lab = await upload_ok(harness.alice, make_pdf("lab"), data={"tags": "Lab,ICU"})
    await upload_ok(harness.alice, make_pdf("note"), data={"tags": "note"})
    for spelling in ("lab", "LAB", "Lab", "icu"):
        response = await harness.alice.get("/v1/documents", params={"tag": spelling})
        assert [item["id"] for item in response.json()["items"]] == [lab["id"]], spelling
    assert lab["tags"] == ["Lab", "ICU"]


async def test_tags_that_differ_only_in_case_are_one_tag(harness: Harness) -> None:
    uploaded = await upload_ok(harness.alice, make_pdf("x"), data={"tags": "Lab,LAB,lab,ICU"})
    assert uploaded["tags"] == ["Lab", "ICU"]
    patched = await harness.alice.patch(
        f"/v1/documents/{uploaded['id']}", json={"tags": ["Cardiology", "cardiology", "Renal"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tags"] == ["Cardiology", "Renal"]


async def test_bulk_tag_edits_match_in_any_case_and_keep_the_stored_spelling(
    harness: Harness,
) -> None:
    document = await upload_ok(harness.alice, make_pdf("b"), data={"tags": "Cardiology,ICU"})
    await _bulk(harness, "add_tags", document["id"], ["CARDIOLOGY", "renal"])
    assert (await _document(harness, document["id"]))["tags"] == ["Cardiology", "ICU", "renal"]
    await _bulk(harness, "remove_tags", document["id"], ["cardiology", "Icu"])
    assert (await _document(harness, document["id"]))["tags"] == ["renal"]
