"""Direct uploads: a presigned POST to moto's S3, then the same checks as a streamed upload."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from docquery.domain.documents import utcnow
from docquery.services import deletes
from docquery.services.presigned_uploads import register_object
from support.api import assert_problem
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from support.harness import Harness, HarnessFactory

pytestmark = pytest.mark.aws


@pytest.fixture
def profile() -> str:
    return "aws"


async def start(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/uploads", json=body or {"filename": "cbc.pdf"})
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/uploads/{started['id']}"
    return started


async def post_to_s3(started: dict[str, Any], data: bytes) -> httpx.Response:
    """What a browser does with the form: the fields, then the file last."""
    form = started["upload"]
    async with httpx.AsyncClient(timeout=30) as s3:
        return await s3.post(
            form["url"], data=form["fields"], files={"file": ("x.pdf", data, "application/pdf")}
        )


async def upload_direct(h: Harness, data: bytes, **body: Any) -> dict[str, Any]:
    started = await start(h.alice, **body)
    assert (await post_to_s3(started, data)).status_code in (200, 201, 204)
    response = await h.alice.post(f"/v1/uploads/{started['id']}/complete")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_the_form_is_bounded_encrypted_and_short_lived(make_harness: HarnessFactory) -> None:
    async with make_harness(max_file_size="2MB", presigned_url_ttl=120) as h:
        started = await start(h.alice, filename="a.pdf", title="CBC", tags=["lab"])
        fields = started["upload"]["fields"]
        assert fields["key"] == f"documents/{started['id']}/upload.pdf"
        assert fields["Content-Type"] == "application/pdf"
        assert fields["x-amz-server-side-encryption"] == "AES256"
        policy = json.loads(base64.b64decode(fields["policy"]))
        assert ["content-length-range", 1, 2_000_000] in policy["conditions"]
        assert {"key": fields["key"]} in policy["conditions"]
        assert started["max_size"] == 2_000_000
        assert started["status"] == "pending"
        # Nothing visible yet: the reservation is hidden.
        assert (await h.alice.get("/v1/documents")).json()["items"] == []


async def test_a_pdf_becomes_a_queued_document_of_its_owner(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        pdf = make_pdf("direct upload")
        result = await upload_direct(h, pdf, filename="cbc.pdf", title="CBC panel", tags=["lab"])
        assert result["status"] == "stored"
        document = result["document"]
        assert document["id"] == result["id"] == result["document_id"]
        assert document["status"] == "queued"
        assert (document["title"], document["tags"], document["size"]) == (
            "CBC panel",
            ["lab"],
            len(pdf),
        )
        assert document["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert await h.blob_keys() == [f"documents/{document['id']}/original.pdf"]
        content = await h.alice.get(f"/v1/documents/{document['id']}/content")
        assert content.content == pdf
        # Another owner's upload id is a 404, as a missing one.
        assert_problem(await h.bob.get(f"/v1/uploads/{result['id']}"), 404, "not_found")
        assert_problem(await h.bob.post(f"/v1/uploads/{result['id']}/complete"), 404, "not_found")
        assert (await h.alice.get(f"/v1/uploads/{result['id']}")).json()["status"] == "stored"


async def test_a_non_pdf_never_becomes_a_document(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        result = await upload_direct(h, b"\x89PNG\r\n\x1a\n" + b"0" * 5000)
        assert result["status"] == "failed"
        assert result["failure"]["code"] == "not_a_pdf"
        assert result["document"] is None
        assert await h.blob_keys() == []
        assert (await h.alice.get("/v1/documents")).json()["items"] == []
        assert await h.stores.documents.hidden_due(now=utcnow() + timedelta(days=1), limit=9) == []
        # The outcome stays readable.
        polled = (await h.alice.get(f"/v1/uploads/{result['id']}")).json()
        assert polled["failure"]["code"] == "not_a_pdf"


async def test_a_file_over_the_limit_never_becomes_a_document(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(max_file_size="5KB") as h:
        started = await start(h.alice)
        posted = await post_to_s3(started, make_pdf("big") + b"%" * 10_000)
        upload_id = started["id"]
        if posted.status_code >= 400:  # S3 (and a moto that checks the policy) refuses it
            assert b"EntityTooLarge" in posted.content
            assert_problem(
                await h.alice.post(f"/v1/uploads/{upload_id}/complete"),
                409,
                "upload_not_received",
            )
        else:  # the policy not enforced: the check after the event refuses it
            result = (await h.alice.post(f"/v1/uploads/{upload_id}/complete")).json()
            assert result["failure"]["code"] == "file_too_large"
        assert await h.blob_keys() == []
        assert (await h.alice.get("/v1/documents")).json()["items"] == []


async def test_the_same_bytes_again_resolve_to_the_first_document(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness() as h:
        pdf = make_pdf("twice")
        first = await upload_direct(h, pdf)
        second = await upload_direct(h, pdf)
        assert second["status"] == "duplicate"
        assert second["document_id"] == first["document_id"]
        assert second["document"]["id"] == first["document_id"]
        assert await h.blob_keys() == [f"documents/{first['document_id']}/original.pdf"]


async def test_a_second_post_cannot_change_a_registered_documents_bytes(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness() as h:
        pdf = make_pdf("first bytes")
        started = await start(h.alice)
        await post_to_s3(started, pdf)
        await h.alice.post(f"/v1/uploads/{started['id']}/complete")
        # The form is still valid: a second POST lands, and its event removes it.
        await post_to_s3(started, make_pdf("other bytes"))
        key = started["upload"]["fields"]["key"]
        assert key in await h.blob_keys()
        assert await register_object(key, ports=_ports(h)) == "stored"
        assert await h.blob_keys() == [f"documents/{started['id']}/original.pdf"]
        content = await h.alice.get(f"/v1/documents/{started['id']}/content")
        assert content.content == pdf


async def test_events_for_one_object_register_it_once(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        started = await start(h.alice)
        await post_to_s3(started, make_pdf("event twice"))
        key = started["upload"]["fields"]["key"]
        assert await register_object(key, ports=_ports(h)) == "stored"
        assert await register_object(key, ports=_ports(h)) == "stored"
        assert await register_object("documents/not-ours/upload.pdf", ports=_ports(h)) is None
        assert len((await h.alice.get("/v1/documents")).json()["items"]) == 1


async def test_an_abandoned_upload_is_removed_by_the_sweeper(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        started = await start(h.alice)
        await post_to_s3(started, make_pdf("never completed"))
        assert await h.blob_keys() == [started["upload"]["fields"]["key"]]
        swept = await deletes.sweep_hidden(
            now=utcnow() + timedelta(hours=1),
            limit=100,
            documents=h.stores.documents,
            blobs=h.stores.blobs,
            index=h.stores.search_index,
        )
        assert swept == 1
        assert await h.blob_keys() == []


async def test_complete_before_the_file_arrives_is_409(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        started = await start(h.alice)
        response = await h.alice.post(f"/v1/uploads/{started['id']}/complete")
        assert_problem(response, 409, "upload_not_received")
        assert (await h.alice.get(f"/v1/uploads/{started['id']}")).json()["status"] == "pending"


@pytest.mark.parametrize("profile", ["embedded"])
async def test_the_embedded_profile_has_no_direct_uploads(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        assert_problem(await start_raw(h), 501, "direct_uploads_unavailable")


async def start_raw(h: Harness) -> httpx.Response:
    return await h.alice.post("/v1/uploads", json={"filename": "a.pdf"})


def _ports(h: Harness) -> Any:
    assert h.stores.direct_uploads is not None
    return h.stores.direct_uploads
