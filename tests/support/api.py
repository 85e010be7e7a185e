"""Small helpers for talking to the API in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from support.pdfs import make_pdf


async def upload(
    client: httpx.AsyncClient,
    content: bytes | None = None,
    *,
    filename: str = "report.pdf",
    content_type: str = "application/pdf",
    data: dict[str, Any] | None = None,
) -> httpx.Response:
    payload = content if content is not None else make_pdf(filename)
    return await client.post(
        "/v1/documents", files={"file": (filename, payload, content_type)}, data=data or {}
    )


async def upload_ok(
    client: httpx.AsyncClient, content: bytes | None = None, **kwargs: Any
) -> dict[str, Any]:
    response = await upload(client, content, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    assert problem["status"] == status
    assert "title" in problem
    return problem


def api_routes(app: Any) -> list[Any]:
    """Every route of the app, through included routers (FastAPI may nest them)."""
    found: list[Any] = []
    for route in app.routes:
        nested = getattr(route, "original_router", None)
        found += api_routes(nested) if nested is not None else [route]
    return found


async def wait_for_document(
    client: httpx.AsyncClient,
    document_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    within: float = 60.0,
) -> dict[str, Any]:
    """Poll the document until done(document) holds; fail with its last state on timeout."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get(f"/v1/documents/{document_id}")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        if done(document):
            return document
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"document did not get there in {within} s: {document}")
        await asyncio.sleep(0.05)


def settled(document: dict[str, Any]) -> bool:
    """Processing is over: failed, or ready with the summary no longer pending."""
    return document["status"] == "failed" or (
        document["status"] == "ready" and document["summary_status"] != "pending"
    )
