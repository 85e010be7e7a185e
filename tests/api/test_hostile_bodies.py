"""Hostile bodies: caps before auth and parsing, bounded fields, body deadlines, framing, log ids.

The first tests drive the ASGI app with a receive callable that counts its reads, so "never
read" is measured, not assumed; the socket tests run the app under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from docquery.api.auth_gate import API_PREFIX
from docquery.api.deps import get_principal
from docquery.domain.documents import new_document_id
from docquery.domain.ids import is_document_id
from support.api import api_routes, assert_problem, upload_ok
from support.harness import Harness, HarnessFactory
from support.pdfs import make_pdf
from support.settings import ALICE_KEY

EMBEDDED = pytest.mark.parametrize("profile", ["embedded"])
MiB = 1024 * 1024
NAME = "Zebulon Quartermaine"
JSON_ROUTES = [
    ("POST", "/v1/search"),
    ("POST", "/v1/query"),
    ("POST", "/v1/documents/bulk"),
    ("PATCH", "/v1/documents/0123456789abcdef0123456789abcdef"),
]


class CountingBody:
    """A request body as uvicorn delivers it, counting how often the app asks for more."""

    # Far over every cap: an app that reads this much would read the client's 150 MiB too.
    GIVE_AT_MOST = 4 * MiB

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.reads = 0
        self.bytes = 0

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        await asyncio.sleep(0)  # as a socket would, let the loop run between chunks
        chunk = next(self.chunks)
        self.bytes += len(chunk)
        if self.bytes > self.GIVE_AT_MOST:
            raise AssertionError(f"the app read over {self.GIVE_AT_MOST} bytes of the body")
        return {"type": "http.request", "body": chunk, "more_body": True}


async def call(
    h: Harness, method: str, path: str, body: CountingBody, *, headers: dict[str, str]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One request straight into the ASGI app; the status, headers and JSON of its answer."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("docquery.test", 80),
        "state": {"services": h.stores},
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(20):
        await h.app(scope, body.receive, send)
    start = sent[0]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], response_headers, json.loads(content)


def endless(chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    return itertools.repeat(b"x" * chunk_size)


# --- item 1: anonymous bodies are never read; every other body is capped -----------------------


@EMBEDDED
@pytest.mark.parametrize(("method", "path"), [*JSON_ROUTES, ("POST", "/v1/documents")])
@pytest.mark.parametrize("length", ["150 MiB", "chunked"])
async def test_an_anonymous_body_is_never_read(
    harness: Harness, method: str, path: str, length: str
) -> None:
    headers = {"content-type": "application/json"}
    headers |= {"content-length": str(150 * MiB)} if length != "chunked" else {}
    headers |= {"transfer-encoding": "chunked"} if length == "chunked" else {}
    body = CountingBody(endless())
    status, response_headers, problem = await call(harness, method, path, body, headers=headers)
    assert (status, problem["code"]) == (401, "unauthenticated")
    assert response_headers["www-authenticate"].startswith("Bearer")
    # The rest of the body is never read, so the connection cannot be used again.
    assert response_headers["connection"] == "close"
    assert body.reads == 0


@EMBEDDED
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_json_body_over_its_cap_is_refused_from_its_content_length(
    harness: Harness, method: str, path: str
) -> None:
    cap = int(harness.settings.max_json_body_size)
    headers = {"x-api-key": ALICE_KEY, "content-length": str(cap + 1)}
    body = CountingBody(endless())
    status, response_headers, problem = await call(harness, method, path, body, headers=headers)
    assert (status, problem["code"]) == (413, "request_too_large")
    assert response_headers["connection"] == "close"
    assert body.reads == 0


@EMBEDDED
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_chunked_json_body_is_cut_off_at_its_cap(
    harness: Harness, method: str, path: str
) -> None:
    cap = int(harness.settings.max_json_body_size)
    headers = {"x-api-key": ALICE_KEY, "transfer-encoding": "chunked"}
    body = CountingBody(endless(chunk_size=16 * 1024))
    status, _, problem = await call(harness, method, path, body, headers=headers)
    assert (status, problem["code"]) == (413, "request_too_large")
    # Read up to the cap and one chunk more; never the 150 MiB the client would send.
    assert cap < body.bytes <= cap + 16 * 1024


@EMBEDDED
async def test_an_upload_keeps_its_own_larger_limit(make_harness: HarnessFactory) -> None:
    async with make_harness(max_file_size="1MB") as h:
        headers = {"x-api-key": ALICE_KEY, "content-length": str(h.settings.max_request_size + 1)}
        body = CountingBody(endless())
        status, _, problem = await call(h, "POST", "/v1/documents", body, headers=headers)
        assert (status, problem["code"], body.reads) == (413, "file_too_large", 0)
        # A body far over the JSON cap but within the upload limit is an upload like any other.
        assert int(h.settings.max_json_body_size) < 1_000_000
        document = await upload_ok(h.alice, make_pdf("x" * 300_000))
        assert document["size"] > int(h.settings.max_json_body_size)


# --- item 2: every string and list in a request is bounded, checked before any work -------------


LONG_TAG = "t" * 100_000  # under the body cap, so only the field bound can refuse it


@EMBEDDED
async def test_long_tags_and_malformed_ids_are_refused_before_any_work(harness: Harness) -> None:
    h = harness
    document = await upload_ok(h.alice, make_pdf("bounded"))
    refused = [
        await h.alice.post("/v1/search", json={"q": "x", "tags": [LONG_TAG]}),
        await h.alice.post("/v1/search", json={"q": "x", "document_ids": [NAME]}),
        await h.alice.get("/v1/search", params={"q": "x", "tags": "t" * 1000}),
        await h.alice.get("/v1/search", params={"q": "x", "document_ids": NAME}),
        await h.alice.post("/v1/query", json={"question": "x", "tags": [LONG_TAG]}),
        await h.alice.post("/v1/query", json={"question": "x", "document_ids": ["0" * 33]}),
        await h.alice.patch(f"/v1/documents/{document['id']}", json={"tags": [LONG_TAG]}),
        await h.alice.post(
            "/v1/documents/bulk",
            json={"action": "add_tags", "ids": [document["id"]], "tags": [LONG_TAG]},
        ),
        # One malformed id refuses the whole request: the valid one is not deleted first.
        await h.alice.post(
            "/v1/documents/bulk", json={"action": "delete", "ids": [document["id"], NAME]}
        ),
    ]
    for response in refused:
        assert_problem(response, 422, "validation_error")
        assert LONG_TAG not in response.text
    assert (await h.alice.get(f"/v1/documents/{document['id']}")).json()["tags"] == []


@EMBEDDED
async def test_bounded_fields_still_take_what_clients_send(harness: Harness) -> None:
    h = harness
    document = await upload_ok(h.alice, make_pdf("bounded"))
    patched = await h.alice.patch(
        f"/v1/documents/{document['id']}", json={"tags": ["  lab  ", "icu,ward 7"]}
    )
    assert patched.json()["tags"] == ["lab", "icu", "ward 7"]
    found = await h.alice.post(
        "/v1/search", json={"q": "bounded", "document_ids": [document["id"]], "tags": ["lab"]}
    )
    assert found.status_code == 200, found.text


# --- item 10: the access log carries ids only when they have our ids' shape ----------------------


@EMBEDDED
async def test_the_access_log_never_copies_a_name_from_the_path(
    harness: Harness, json_log: Any
) -> None:
    document = await upload_ok(harness.alice, make_pdf("log ids"))
    assert (await harness.alice.get("/v1/documents/Zebulon%20Quartermaine")).status_code == 404
    assert (await harness.alice.get(f"/v1/documents/{document['id']}")).status_code == 200
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line.get("event") == "http.request"]
    logged = [line.get("document_id") for line in access if line.get("route", "").endswith("}")]
    assert logged == ["invalid", document["id"]]
    assert "Zebulon" not in json_log.getvalue()


def test_new_ids_have_the_shape_requests_and_logs_check() -> None:
    assert all(is_document_id(new_document_id()) for _ in range(100))
    for other in (NAME, "0123456789abcdef", "0" * 31 + "G", "0" * 32 + "\n", "0" * 33):
        assert not is_document_id(other)


@EMBEDDED
async def test_every_route_that_needs_a_principal_is_behind_the_auth_gate(harness: Harness) -> None:
    # The gate checks keys on API_PREFIX only; a route elsewhere would read its body first.
    guarded = [
        route.path
        for route in api_routes(harness.app)
        if isinstance(route, APIRoute) and _needs_principal(route.dependant)
    ]
    assert len(guarded) >= 10
    assert all(path.startswith(f"{API_PREFIX}/") for path in guarded), guarded


def _needs_principal(dependant: Any) -> bool:
    return any(dep.call is get_principal or _needs_principal(dep) for dep in dependant.dependencies)
