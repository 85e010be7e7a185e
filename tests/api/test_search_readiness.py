"""Readiness tells the truth about search: an index that cannot answer a search is not ready."""

from __future__ import annotations

import shutil

import pytest

from support.api import assert_problem
from support.harness import Harness


@pytest.mark.parametrize("profile", ["embedded"])
async def test_an_index_that_cannot_search_is_not_ready(harness: Harness) -> None:
    assert (await harness.anonymous.get("/readyz")).status_code == 200
    # The index's files are lost from under the server (its open files still answer).
    shutil.rmtree(harness.settings.data_dir / "search")
    problem = assert_problem(await harness.anonymous.get("/readyz"), 503, "not_ready")
    assert problem["checks"] == {
        "blob_store": "ok",
        "document_store": "ok",
        "search_index": "down",
    }
