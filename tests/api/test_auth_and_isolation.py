"""Every route needs a principal; every id route is owner-scoped; nothing internal leaks."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.routing import APIRoute

from support.api import api_routes, assert_problem, upload, upload_ok
from support.harness import Harness
from support.pdfs import make_pdf
from support.settings import ALICE_KEY

# On purpose: health for the load balancer, and the API's documentation (`/` redirects to it).
PUBLIC_PATHS = {"/", "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


async def test_every_route_but_health_and_docs_requires_a_key(harness: Harness) -> None:
    routes = [route for route in api_routes(harness.app) if isinstance(route, APIRoute)]
    spec_paths = set((await harness.anonymous.get("/openapi.json")).json()["paths"])
    assert spec_paths <= {route.path for route in routes}, "the walk missed a route"
    checked = 0
    for route in routes:
        if route.path in PUBLIC_PATHS:
            continue
        for method in route.methods:
            for client_headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
                response = await harness.anonymous.request(
                    method, _concrete(route.path), headers=client_headers
                )
                assert_problem(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 6  # upload, list, get, content, patch, delete


async def test_public_routes_answer_without_a_key(harness: Harness) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await harness.anonymous.get(path)).status_code == 200


async def test_bearer_token_works_like_x_api_key(harness: Harness) -> None:
    response = await harness.anonymous.get(
        "/v1/documents", headers={"Authorization": f"Bearer {ALICE_KEY}"}
    )
    assert response.status_code == 200


async def test_another_owners_id_is_404_on_every_id_route(harness: Harness) -> None:
    document = await upload_ok(harness.alice, make_pdf("alice only"))
    path = f"/v1/documents/{document['id']}"
    attempts = [
        await harness.bob.get(path),
        await harness.bob.get(f"{path}/content"),
        await harness.bob.get(f"{path}/content?redirect=true"),
        await harness.bob.patch(path, json={"title": "mine now"}),
        await harness.bob.get(f"{path}/text"),
        await harness.bob.get(f"{path}/summary"),
        await harness.bob.post(f"{path}/reprocess"),
        await harness.bob.delete(path),
    ]
    for response in attempts:
        assert_problem(response, 404, "not_found")
    id_routes = {
        (method, route.path)
        for route in api_routes(harness.app)
        if isinstance(route, APIRoute) and "{document_id}" in route.path
        for method in route.methods
    }
    assert id_routes == {
        ("GET", "/v1/documents/{document_id}"),
        ("GET", "/v1/documents/{document_id}/content"),
        ("PATCH", "/v1/documents/{document_id}"),
        ("DELETE", "/v1/documents/{document_id}"),
        ("GET", "/v1/documents/{document_id}/text"),
        ("GET", "/v1/documents/{document_id}/summary"),
        ("POST", "/v1/documents/{document_id}/reprocess"),
    }, "a new id route needs an isolation check here"
    assert (await harness.alice.get(path)).json() == document


async def test_lists_never_show_another_owners_documents(harness: Harness) -> None:
    content = make_pdf("identical text")
    mine = await upload_ok(harness.alice, content)
    theirs = await upload(harness.bob, content)
    # Identical bytes from another owner are that owner's own document, not a duplicate.
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]
    alice_ids = [d["id"] for d in (await harness.alice.get("/v1/documents")).json()["items"]]
    bob_ids = [d["id"] for d in (await harness.bob.get("/v1/documents")).json()["items"]]
    assert alice_ids == [mine["id"]]
    assert bob_ids == [theirs.json()["id"]]


async def test_responses_carry_no_storage_keys_or_internals(harness: Harness) -> None:
    created = await upload(harness.alice, make_pdf("internals"), data={"tags": "x"})
    document_id = created.json()["id"]
    responses = [
        created,
        await harness.alice.get(f"/v1/documents/{document_id}"),
        await harness.alice.get("/v1/documents"),
        await harness.alice.patch(f"/v1/documents/{document_id}", json={"title": "t"}),
    ]
    for response in responses:
        text = json.dumps(response.json()) + json.dumps(dict(response.headers))
        storage_key = f"documents/{document_id}/"
        for leak in (storage_key, "original.pdf", "blob_key", "owner", "version", "lease"):
            assert leak not in text, (leak, text)


@pytest.mark.parametrize("profile", ["embedded"])
async def test_auth_none_serves_everything_as_the_local_owner(make_harness) -> None:  # type: ignore[no-untyped-def]
    async with make_harness(auth="none", api_keys={}) as harness:
        document = await upload_ok(harness.anonymous)
        listed = (await harness.anonymous.get("/v1/documents")).json()["items"]
        assert [item["id"] for item in listed] == [document["id"]]
        found = await harness.stores.documents.get(owner="local", document_id=document["id"])
        assert found.id == document["id"]
