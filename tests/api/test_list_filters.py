"""`GET /v1/documents` filters: a date alone means midnight UTC; tags match in any case."""

from __future__ import annotations

from datetime import date, timedelta

from support.api import assert_problem, upload_ok
from support.harness import Harness
from support.pdfs import make_pdf


async def _ids(harness: Harness, **params: str) -> list[str]:
    response = await harness.alice.get("/v1/documents", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_a_date_without_a_time_is_midnight_utc_at_the_start_of_that_day(
    harness: Harness,
) -> None:
    document = await upload_ok(harness.alice, make_pdf("dated"))
    # The document's own day, not today's: the test may run across midnight.
    day = date.fromisoformat(document["created_at"][:10])
    after, before = str(day - timedelta(days=1)), str(day + timedelta(days=1))
    assert await _ids(harness, created_after=str(day)) == [document["id"]]
    assert await _ids(harness, created_after=before) == []
    assert await _ids(harness, created_before=before) == [document["id"]]
    # created_before=<its day> is midnight at the start of it: the document is after that.
    assert await _ids(harness, created_before=str(day)) == []
    assert await _ids(harness, created_after=after, created_before=before) == [document["id"]]


async def test_dates_and_times_that_are_not_valid_are_refused(harness: Harness) -> None:
    for bad in ("2026-02-30", "2026-13-01"):
        response = await harness.alice.get("/v1/documents", params={"created_after": bad})
        assert_problem(response, 422, "validation_error")
    # A date-time still needs its zone: a naive one would be read in the server's.
    naive = await harness.alice.get("/v1/documents", params={"created_before": "2026-11-29T10:00"})
    assert_problem(naive, 400, "invalid_request")
    zoned = await harness.alice.get("/v1/documents", params={"created_before": "2026-11-29T10:00Z"})
    assert zoned.status_code == 200, zoned.text
