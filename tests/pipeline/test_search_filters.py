"""Search filters on both profiles: a date alone means midnight UTC; tags match in any case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from support.api import assert_problem, settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf
from support.harness import Harness, HarnessFactory

Q = "warfarin"


@pytest.fixture
async def tagged(make_pipeline_harness: HarnessFactory) -> AsyncIterator[tuple[Harness, str]]:
    async with make_pipeline_harness() as h:
        pdf = document_pdf(["Warfarin was started for stroke prevention."])
        uploaded = await upload_ok(h.alice, pdf, data={"tags": "Cardiology,ICU"})
        document = await wait_for_document(h.alice, uploaded["id"], settled)
        assert document["status"] == "ready", document
        yield h, document["created_at"]


async def _found(h: Harness, **filters: Any) -> tuple[int, int]:
    """How many hits GET and POST /v1/search give with these filters."""
    got = await h.alice.get("/v1/search", params={"q": Q, **filters})
    posted = await h.alice.post("/v1/search", json={"q": Q, **filters})
    assert got.status_code == posted.status_code == 200, (got.text, posted.text)
    return len(got.json()["hits"]), len(posted.json()["hits"])


async def test_a_date_without_a_time_is_midnight_utc(tagged: tuple[Harness, str]) -> None:
    h, created_at = tagged
    day = date.fromisoformat(created_at[:10])
    next_day = str(day + timedelta(days=1))
    assert await _found(h, created_after=str(day)) == (1, 1)
    assert await _found(h, created_after=next_day) == (0, 0)
    assert await _found(h, created_before=next_day) == (1, 1)
    assert await _found(h, created_before=str(day)) == (0, 0)
    naive = {"q": Q, "created_after": "2026-11-29T10:00"}
    assert_problem(await h.alice.get("/v1/search", params=naive), 400, "invalid_request")
    assert_problem(await h.alice.post("/v1/search", json=naive), 422, "validation_error")
    bad_day = {"q": Q, "created_before": "2026-02-30"}
    assert_problem(await h.alice.post("/v1/search", json=bad_day), 422, "validation_error")


async def test_tag_filters_match_in_any_case(tagged: tuple[Harness, str]) -> None:
    h, _ = tagged
    assert await _found(h, tags=["cardiology"]) == (1, 1)
    assert await _found(h, tags=["CARDIOLOGY", "icu"]) == (1, 1)
    assert await _found(h, tags=["renal"]) == (0, 0)
    document_id = (await h.alice.get("/v1/documents")).json()["items"][0]["id"]
    patched = await h.alice.patch(f"/v1/documents/{document_id}", json={"tags": ["Renal"]})
    assert patched.json()["tags"] == ["Renal"]
    assert await _found(h, tags=["RENAL"]) == (1, 1)
    assert await _found(h, tags=["cardiology"]) == (0, 0)
