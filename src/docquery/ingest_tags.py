"""`docquery ingest`: retried requests, and tags added to a document uploaded before."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx

from docquery.ingest_report import FileResult, Outcome

RETRY_DELAYS = (1.0, 3.0)
# The server re-reads and retries a tag edit that raced another write; if it still lost
# (412 precondition_failed), the whole request is tried again this many times in all.
_TAG_ATTEMPTS = 3


async def with_retries(
    send: Callable[[], Awaitable[httpx.Response]], delays: Sequence[float]
) -> tuple[httpx.Response, int]:
    """send() with retries on 5xx, 429 and connection errors; the last error propagates."""
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            response = await send()
        except httpx.TransportError:
            if delay is None:
                raise
        else:
            if delay is None or not _retryable(response.status_code):
                return response, attempt
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


async def tag_duplicate(
    result: FileResult,
    tags: Sequence[str],
    client: httpx.AsyncClient,
    delays: Sequence[float],
) -> FileResult:
    """Add tags to the document a duplicate upload answered with, keeping the ones it has."""
    assert result.document_id is not None
    body = {"action": "add_tags", "ids": [result.document_id], "tags": list(tags)}
    problem = ""
    for _ in range(_TAG_ATTEMPTS):
        try:
            response, _attempts = await with_retries(
                lambda: client.post("/v1/documents/bulk", json=body), delays
            )
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            break
        code, problem = _bulk_problem(response)
        if code is None:
            return replace(result, outcome=Outcome.TAGGED)
        if code != "precondition_failed":
            break
    reason = f"duplicate of {result.document_id}; tags not added: {problem}"
    return replace(result, outcome=Outcome.FAILED, reason=reason)


def _bulk_problem(response: httpx.Response) -> tuple[str | None, str]:
    """(None, "") if the one document was tagged; else the problem's code and `code: detail`."""
    body = json_body(response)
    results = body.get("results")
    if response.status_code == 200 and isinstance(results, list) and results:
        item = results[0] if isinstance(results[0], dict) else {}
        if item.get("status") == "ok":
            return None, ""
        code = str(item.get("code") or "unknown")
        return code, f"{code}: {item.get('detail') or ''}".rstrip(": ")
    code = str(body.get("code") or f"http_{response.status_code}")
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    return code, f"{response.status_code} {code}: {detail}"


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} if it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
