"""POST /v1/documents/bulk: a result for every id, owner-scoped, nothing silently skipped."""

from __future__ import annotations

from typing import Any

from docquery.domain.documents import utcnow
from support.api import assert_problem, upload_ok
from support.harness import Harness
from support.pdfs import make_pdf


async def bulk(h: Harness, **body: Any) -> dict[str, Any]:
    response = await h.alice.post("/v1/documents/bulk", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def outcome(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(item["id"], item["code"]) for item in result["results"]]


async def test_bulk_delete_reports_every_id(harness: Harness) -> None:
    h = harness
    mine = [(await upload_ok(h.alice, make_pdf(f"bulk {n}")))["id"] for n in range(2)]
    theirs = (await upload_ok(h.bob, make_pdf("bob's")))["id"]
    ids = [mine[0], "0" * 32, theirs, mine[1], mine[0]]
    result = await bulk(h, action="delete", ids=ids)
    assert outcome(result) == [
        (mine[0], None),
        ("0" * 32, "not_found"),
        (theirs, "not_found"),  # another owner's document looks exactly like a missing one
        (mine[1], None),
    ]
    assert [item["status"] for item in result["results"]] == ["ok", "error", "error", "ok"]
    assert (result["succeeded"], result["failed"]) == (2, 2)
    assert (await h.alice.get("/v1/documents")).json()["items"] == []
    assert (await h.bob.get(f"/v1/documents/{theirs}")).status_code == 200
    assert await h.blob_keys() == [f"documents/{theirs}/original.pdf"]


async def test_bulk_tags_add_and_remove(harness: Harness) -> None:
    h = harness
    first = await upload_ok(h.alice, make_pdf("t1"), data={"tags": "lab"})
    second = await upload_ok(h.alice, make_pdf("t2"))
    added = await bulk(h, action="add_tags", ids=[first["id"], second["id"]], tags=["icu", "lab"])
    assert added["failed"] == 0
    tags = {d["id"]: d["tags"] for d in (await h.alice.get("/v1/documents")).json()["items"]}
    assert tags == {first["id"]: ["lab", "icu"], second["id"]: ["icu", "lab"]}
    removed = await bulk(h, action="remove_tags", ids=[first["id"], second["id"]], tags=["lab"])
    assert removed["succeeded"] == 2
    tags = {d["id"]: d["tags"] for d in (await h.alice.get("/v1/documents")).json()["items"]}
    assert tags == {first["id"]: ["icu"], second["id"]: ["icu"]}


async def test_bulk_tags_respect_the_tag_limit(harness: Harness) -> None:
    h = harness
    full = ",".join(f"t{n}" for n in range(50))
    document = await upload_ok(h.alice, make_pdf("full"), data={"tags": full})
    result = await bulk(h, action="add_tags", ids=[document["id"]], tags=["one-more"])
    assert outcome(result) == [(document["id"], "invalid_field")]


async def test_bulk_reprocess_queues_and_reports_busy_documents(harness: Harness) -> None:
    h = harness
    idle = await upload_ok(h.alice, make_pdf("idle"))
    busy = await upload_ok(h.alice, make_pdf("busy"))
    claimed = await h.stores.documents.claim(worker="someone", now=utcnow(), lease_seconds=60)
    assert claimed is not None
    busy_id = claimed.id
    idle_id = idle["id"] if busy_id == busy["id"] else busy["id"]
    result = await bulk(h, action="reprocess", ids=[idle_id, busy_id])
    assert outcome(result) == [(idle_id, None), (busy_id, "document_busy")]


async def test_bulk_requests_are_validated(harness: Harness) -> None:
    h = harness
    bad_bodies = [
        {"action": "delete", "ids": []},
        {"action": "delete", "ids": [str(n) for n in range(101)]},
        {"action": "add_tags", "ids": ["x"]},
        {"action": "add_tags", "ids": ["x"], "tags": [" "]},
        {"action": "delete", "ids": ["x"], "tags": ["lab"]},
        {"action": "archive", "ids": ["x"]},
        {"action": "add_tags", "ids": ["x"], "tags": ["x" * 65]},
    ]
    for body in bad_bodies:
        response = await h.alice.post("/v1/documents/bulk", json=body)
        assert_problem(response, 422, "validation_error")
    assert_problem(
        await h.anonymous.post("/v1/documents/bulk", json={"action": "delete", "ids": ["x"]}),
        401,
        "unauthenticated",
    )
