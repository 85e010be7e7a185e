"""Small helpers for talking to the API in tests."""

from __future__ import annotations

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
