"""A failed summary always says why: `summary_failure` has a code and a message."""

from __future__ import annotations

from typing import Any

import pytest

from docquery.adapters.records import from_record, to_record
from docquery.domain.processing import SummaryStatus
from support.api import assert_problem, settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf, encrypted_pdf
from support.documents import make_document
from support.fake_bedrock import FakeBedrock
from support.harness import Harness, HarnessFactory


def _has_reason(failure: dict[str, Any] | None) -> bool:
    return failure is not None and bool(failure["code"]) and bool(failure["message"].strip())


async def test_a_failed_documents_summary_fails_with_its_reason(pipeline_harness: Harness) -> None:
    h = pipeline_harness
    document = await upload_ok(h.alice, encrypted_pdf(user_password="secret"))
    final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "encrypted_pdf"
    assert final["summary_status"] == "failed"
    assert _has_reason(final["summary_failure"]), final
    assert final["summary_failure"]["code"] == "encrypted_pdf"
    assert "not summarised" in final["summary_failure"]["message"]
    problem = assert_problem(
        await h.alice.get(f"/v1/documents/{document['id']}/summary"), 409, "not_ready"
    )
    assert problem["failure_code"] == "encrypted_pdf"


@pytest.mark.parametrize("profile", ["aws"])
async def test_a_model_that_fails_leaves_a_readable_document_and_a_reason(
    make_pipeline_harness: HarnessFactory, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.respond_with("this is not the JSON summary that was asked for")
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, document_pdf(["Haemoglobin 13.2 g/dL, within range."]))
        final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "ready", final
    assert final["summary_status"] == "failed"
    assert _has_reason(final["summary_failure"]), final
    assert final["summary_failure"]["code"] == "model_error"


def test_a_record_stored_without_its_summarys_reason_reads_with_one() -> None:
    # Records written before the reason was always stored: failed, with no summary_failure_code.
    record = to_record(make_document())
    record |= {
        "status": "failed",
        "failure_code": "unreadable_pdf",
        "failure_message": "no cross-reference table",
        "summary_status": "failed",
        "summary_failure_code": None,
        "summary_failure_message": None,
    }
    document = from_record(record)
    assert document.summary_status is SummaryStatus.FAILED
    assert document.summary_failure is not None
    assert document.summary_failure.code.value == "unreadable_pdf"
    assert "no cross-reference table" in document.summary_failure.message
    record |= {"failure_code": None, "failure_message": None}
    assert from_record(record).summary_failure is not None
    record |= {"summary_status": "ready"}
    assert from_record(record).summary_failure is None
