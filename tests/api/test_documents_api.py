"""The document API end to end, on both profiles."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx

from support.api import assert_problem, upload, upload_ok
from support.harness import Harness
from support.pdfs import make_pdf, sample_pdf

DOCUMENT_FIELDS = {
    "id", "title", "filename", "content_type", "size", "sha256", "page_count", "tags", "status",
    "stage", "progress", "failure", "summary_status", "summary_failure", "created_at",
    "updated_at",
}  # fmt: skip


async def test_upload_answers_201_with_the_document(harness: Harness) -> None:
    content = sample_pdf()
    response = await upload(
        harness.alice, content, filename="cbc panel.pdf", data={"title": "CBC", "tags": "lab, 2026"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == DOCUMENT_FIELDS
    assert body["title"] == "CBC"
    assert body["filename"] == "cbc panel.pdf"
    assert body["tags"] == ["lab", "2026"]
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["content_type"] == "application/pdf"
    assert body["status"] == "queued"
    assert body["page_count"] is None
    assert response.headers["location"] == f"/v1/documents/{body['id']}"
    assert response.headers["etag"]
    assert await harness.blob_keys() == [f"documents/{body['id']}/original.pdf"]


async def test_tags_may_be_repeated_and_title_defaults_to_the_file_name(harness: Harness) -> None:
    response = await harness.alice.post(
        "/v1/documents",
        files=[("file", ("Discharge summary.pdf", make_pdf("t"), "application/pdf"))],
        data={"tags": ["cardiology", "icu,cardiology"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == ["cardiology", "icu"]
    assert response.json()["title"] == "Discharge summary"


async def test_same_bytes_again_returns_the_existing_document(harness: Harness) -> None:
    content = make_pdf("dup")
    first = await upload_ok(harness.alice, content)
    again = await upload(harness.alice, content, filename="renamed.pdf")
    assert again.status_code == 200
    assert again.json() == first
    assert again.headers["location"] == f"/v1/documents/{first['id']}"
    assert await harness.blob_keys() == [f"documents/{first['id']}/original.pdf"]
    listed = (await harness.alice.get("/v1/documents")).json()["items"]
    assert [item["id"] for item in listed] == [first["id"]]


async def test_get_returns_the_document_and_its_etag(harness: Harness) -> None:
    created = await upload(harness.alice)
    document = created.json()
    response = await harness.alice.get(f"/v1/documents/{document['id']}")
    assert response.status_code == 200
    assert response.json() == document
    assert response.headers["etag"] == created.headers["etag"]


async def test_unknown_id_is_404_problem(harness: Harness) -> None:
    response = await harness.alice.get("/v1/documents/0123456789abcdef")
    assert_problem(response, 404, "not_found")


async def test_download_streams_the_original_bytes(harness: Harness) -> None:
    content = sample_pdf("multicolumn.pdf")
    document = await upload_ok(harness.alice, content, filename="Bericht über Blutwerte.pdf")
    response = await harness.alice.get(f"/v1/documents/{document['id']}/content")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"] == f'"{document["sha256"]}"'
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=UTF-8''Bericht%20%C3%BCber%20Blutwerte.pdf" in disposition
    assert 'filename="Bericht _ber Blutwerte.pdf"' in disposition


async def test_download_with_matching_if_none_match_is_304(harness: Harness) -> None:
    document = await upload_ok(harness.alice)
    response = await harness.alice.get(
        f"/v1/documents/{document['id']}/content",
        headers={"If-None-Match": f'"{document["sha256"]}"'},
    )
    assert response.status_code == 304
    assert response.content == b""


async def test_redirect_download(harness: Harness) -> None:
    content = make_pdf("redirect")
    document = await upload_ok(harness.alice, content)
    response = await harness.alice.get(f"/v1/documents/{document['id']}/content?redirect=true")
    if harness.settings.profile == "embedded":
        # No presigned URLs on local disk: the bytes come straight back.
        assert response.status_code == 200
        assert response.content == content
        return
    assert response.status_code == 307
    url = response.headers["location"]
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) == harness.settings.presigned_url_ttl <= 600
    assert "attachment" in query["response-content-disposition"][0]
    async with httpx.AsyncClient() as direct:
        fetched = await direct.get(url)
    assert fetched.status_code == 200
    assert fetched.content == content


async def test_patch_title_and_tags_with_if_match(harness: Harness) -> None:
    created = await upload(harness.alice)
    document_id = created.json()["id"]
    response = await harness.alice.patch(
        f"/v1/documents/{document_id}",
        json={"title": "  Renamed  ", "tags": ["a", "b"]},
        headers={"If-Match": created.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Renamed"
    assert response.json()["tags"] == ["a", "b"]
    assert response.headers["etag"] != created.headers["etag"]
    stale = await harness.alice.patch(
        f"/v1/documents/{document_id}",
        json={"title": "Lost update"},
        headers={"If-Match": created.headers["etag"]},
    )
    assert_problem(stale, 412, "precondition_failed")
    current = (await harness.alice.get(f"/v1/documents/{document_id}")).json()
    assert current["title"] == "Renamed"


async def test_patch_without_if_match_applies(harness: Harness) -> None:
    document = await upload_ok(harness.alice)
    response = await harness.alice.patch(f"/v1/documents/{document['id']}", json={"tags": []})
    assert response.status_code == 200
    assert response.json()["tags"] == []
    assert response.json()["title"] == document["title"]


async def test_patch_refuses_fields_that_are_not_editable(harness: Harness) -> None:
    document = await upload_ok(harness.alice)
    for field, value in (
        ("owner", "bob"), ("status", "ready"), ("sha256", "0" * 64), ("size", 1), ("id", "x"),
    ):  # fmt: skip
        response = await harness.alice.patch(
            f"/v1/documents/{document['id']}", json={"title": "ok", field: value}
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", field]
    assert (await harness.alice.get(f"/v1/documents/{document['id']}")).json() == document


async def test_patch_refuses_a_blank_title(harness: Harness) -> None:
    document = await upload_ok(harness.alice)
    response = await harness.alice.patch(f"/v1/documents/{document['id']}", json={"title": " "})
    assert_problem(response, 422, "invalid_field")


async def test_delete_removes_record_and_bytes(harness: Harness) -> None:
    content = make_pdf("delete me")
    document = await upload_ok(harness.alice, content)
    response = await harness.alice.delete(f"/v1/documents/{document['id']}")
    assert response.status_code == 204
    assert await harness.blob_keys() == []
    assert_problem(await harness.alice.get(f"/v1/documents/{document['id']}"), 404, "not_found")
    second = await harness.alice.delete(f"/v1/documents/{document['id']}")
    assert_problem(second, 404, "not_found")
    # The same bytes can come back as a new document.
    again = await upload_ok(harness.alice, content)
    assert again["id"] != document["id"]


async def test_list_pages_newest_first(harness: Harness) -> None:
    ids = [(await upload_ok(harness.alice, make_pdf(f"page {n}")))["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await harness.alice.get("/v1/documents", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_list_filters_by_tag_status_and_time(harness: Harness) -> None:
    lab = await upload_ok(harness.alice, make_pdf("lab"), data={"tags": "lab"})
    note = await upload_ok(harness.alice, make_pdf("note"), data={"tags": "note"})

    async def ids(**params: str) -> list[str]:
        response = await harness.alice.get("/v1/documents", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(tag="lab") == [lab["id"]]
    assert await ids(status="queued") == [note["id"], lab["id"]]
    assert await ids(status="ready") == []
    assert await ids(created_after=lab["created_at"]) == [note["id"]]
    assert await ids(created_before=note["created_at"]) == [lab["id"]]


async def test_list_rejects_bad_parameters(harness: Harness) -> None:
    assert_problem(await harness.alice.get("/v1/documents?limit=101"), 422, "validation_error")
    assert_problem(await harness.alice.get("/v1/documents?limit=0"), 422, "validation_error")
    assert_problem(await harness.alice.get("/v1/documents?status=lost"), 422, "validation_error")
    naive = await harness.alice.get("/v1/documents?created_after=2026-01-01T00:00:00")
    assert_problem(naive, 400, "invalid_request")


async def test_tampered_or_foreign_cursors_are_400(harness: Harness) -> None:
    for n in range(3):
        await upload_ok(harness.alice, make_pdf(f"c{n}"))
    cursor = (await harness.alice.get("/v1/documents?limit=1")).json()["next_cursor"]
    assert cursor
    body, _, signature = cursor.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    for bad in (tampered, "garbage", "a.b.c", cursor + "x"):
        response = await harness.alice.get("/v1/documents", params={"cursor": bad})
        assert_problem(response, 400, "invalid_cursor")
    other_filters = await harness.alice.get("/v1/documents", params={"cursor": cursor, "tag": "x"})
    assert_problem(other_filters, 400, "invalid_cursor")
    other_owner = await harness.bob.get("/v1/documents", params={"cursor": cursor})
    assert_problem(other_owner, 400, "invalid_cursor")
