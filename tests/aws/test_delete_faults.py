"""A DELETE whose S3 calls fail after the record is marked: the document is gone for every
reader at once (not "present but unsearchable"), and the sweeper finishes it once S3 is back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_faults import Faults, faulty_client, s3_internal_error

from docquery.domain.documents import utcnow
from docquery.services import deletes
from support.api import assert_problem, upload_ok
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from support.harness import HarnessFactory

pytestmark = pytest.mark.aws


@pytest.fixture
def profile() -> str:
    return "aws"


async def test_s3_failing_after_the_mark_hides_the_document_until_the_sweeper_finishes(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness() as h:
        document = await upload_ok(h.alice, make_pdf("s3 down during delete"))
        path = f"/v1/documents/{document['id']}"
        faults = Faults()
        faults.fail("s3.DeleteObjects", s3_internal_error)
        async with faulty_client(h, faults) as client:
            assert (await client.delete(path)).status_code == 204
            assert faults.calls["s3.DeleteObjects"] == faults.attempts["s3"]
            for suffix in ("", "/content", "/text"):
                assert_problem(await client.get(path + suffix), 404, "not_found")
            assert (await client.get("/v1/documents")).json()["items"] == []
            # A retried DELETE is a 404, never a 500.
            assert_problem(await client.delete(path), 404, "not_found")
        assert await h.blob_keys() == [f"documents/{document['id']}/original.pdf"]
        finished = await deletes.sweep_hidden(
            now=utcnow(),
            limit=100,
            documents=h.stores.documents,
            blobs=h.stores.blobs,
            index=h.stores.search_index,
        )
        assert finished == 1
        assert await h.blob_keys() == []
        assert await h.stores.documents.hidden_due(now=utcnow(), limit=10) == []
