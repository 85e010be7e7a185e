"""Readiness tells the truth about search: an index that cannot answer a search is not ready."""

from __future__ import annotations

import sqlite3

import pytest

from support.api import assert_problem
from support.harness import Harness


@pytest.mark.parametrize("profile", ["embedded"])
async def test_an_index_that_cannot_search_is_not_ready(harness: Harness) -> None:
    assert (await harness.anonymous.get("/readyz")).status_code == 200
    # The full-text table is lost; the table of indexed documents, which readiness used to
    # query, is still there.
    conn = sqlite3.connect(harness.settings.data_dir / "search.sqlite3")
    conn.execute("DROP TABLE page_text")
    conn.commit()
    conn.close()
    problem = assert_problem(await harness.anonymous.get("/readyz"), 503, "not_ready")
    assert problem["checks"] == {
        "blob_store": "ok",
        "document_store": "ok",
        "search_index": "down",
    }
