"""The Lambda handlers on real API Gateway v2 and S3 event payloads, against moto (no Lambda
runtime: a handler is a function of an event and a context)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from docquery import lambda_handlers
from support.pdfs import sample_pdf
from support.settings import ALICE_KEY, API_KEYS, BOB_KEY, TEST_SECRET, aws_settings

EVENTS = Path(__file__).parent / "events"


class FakeContext:
    """The one thing the handlers ask of Lambda's context."""

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_env(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The functions' environment as the template sets it, on a fresh bucket and table."""
    settings = asyncio.run(aws_settings(moto_endpoint))
    env = {
        "DOCQUERY_PROFILE": "aws",
        "DOCQUERY_AUTH": "api_key",
        "DOCQUERY_API_KEYS": ",".join(f"{o}={d}" for o, d in API_KEYS.items()),
        "SECRET_KEY": TEST_SECRET,
        "DOCQUERY_DATA_DIR": str(tmp_path / "tmp" / "docquery"),
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "2",
        "S3_BUCKET": settings.s3_bucket,
        "DYNAMODB_TABLE": settings.dynamodb_table,
        "LANGUAGE_MODEL": "local",
    }
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    lambda_handlers.shutdown()


def http_event(method: str, path: str, *, key: str | None = None, body: Any = None) -> Any:
    event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if key:
        event["headers"]["x-api-key"] = key
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"]))
    return event


def call_api(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = lambda_handlers.api(http_event(method, path, **kwargs), FakeContext())
    assert not response["isBase64Encoded"], response["headers"]
    body = response["body"]
    return response["statusCode"], json.loads(body) if body else None


def s3_event(bucket: str, key: str) -> Any:
    event = json.loads((EVENTS / "s3-object-created.json").read_text())
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"]["key"] = key
    return event


def test_the_api_function_serves_the_app_with_auth(lambda_env: dict[str, str]) -> None:
    assert call_api("GET", "/healthz") == (200, {"status": "ok"})
    status, problem = call_api("GET", "/v1/documents")
    assert (status, problem["code"]) == (401, "unauthenticated")
    assert call_api("GET", "/v1/documents", key=ALICE_KEY) == (
        200,
        {"items": [], "next_cursor": None},
    )
    # A warm invocation reuses the services the first one opened.
    assert lambda_handlers._api is not None
    handler = lambda_handlers._api
    call_api("GET", "/healthz")
    assert lambda_handlers._api is handler


def test_a_direct_upload_is_registered_and_processed_by_the_s3_event(
    lambda_env: dict[str, str],
) -> None:
    status, started = call_api(
        "POST", "/v1/uploads", key=ALICE_KEY, body={"filename": "cbc.pdf", "title": "CBC"}
    )
    assert status == 201, started
    form = started["upload"]
    pdf = sample_pdf()  # four pages with a text layer
    posted = httpx.post(
        form["url"], data=form["fields"], files={"file": ("cbc.pdf", pdf, "application/pdf")}
    )
    assert posted.status_code in (200, 201, 204)
    result = lambda_handlers.process(
        s3_event(lambda_env["S3_BUCKET"], form["fields"]["key"]), FakeContext()
    )
    assert result == {"registered": 1, "keys": 1}
    status, upload = call_api("GET", f"/v1/uploads/{started['id']}", key=ALICE_KEY)
    assert upload["status"] == "stored"
    status, document = call_api("GET", f"/v1/documents/{started['id']}", key=ALICE_KEY)
    assert (status, document["status"], document["page_count"]) == (200, "ready", 4)
    status, text = call_api("GET", f"/v1/documents/{started['id']}/text", key=ALICE_KEY)
    assert status == 200
    assert len(text["pages"]) == 4
    assert all(page["text"].strip() for page in text["pages"])
    assert call_api("GET", f"/v1/uploads/{started['id']}", key=BOB_KEY)[0] == 404


def test_a_non_pdf_event_leaves_no_document(lambda_env: dict[str, str]) -> None:
    _, started = call_api("POST", "/v1/uploads", key=ALICE_KEY, body={"filename": "x.pdf"})
    form = started["upload"]
    httpx.post(form["url"], data=form["fields"], files={"file": ("x.pdf", b"GIF89a" * 100)})
    result = lambda_handlers.process(
        s3_event(lambda_env["S3_BUCKET"], form["fields"]["key"]), FakeContext()
    )
    assert result == {"registered": 0, "keys": 1}
    _, upload = call_api("GET", f"/v1/uploads/{started['id']}", key=ALICE_KEY)
    assert upload["failure"]["code"] == "not_a_pdf"
    assert call_api("GET", "/v1/documents", key=ALICE_KEY)[1]["items"] == []


def test_only_object_created_records_of_our_bucket_are_read() -> None:
    event = s3_event("ours", "documents/abc/upload+file.pdf")
    other = copy.deepcopy(event["Records"][0])
    other["s3"]["bucket"]["name"] = "theirs"
    removed = copy.deepcopy(event["Records"][0])
    removed["eventName"] = "ObjectRemoved:Delete"
    event["Records"] += [other, removed, {"EventSource": "aws:sns"}]
    assert lambda_handlers.uploaded_keys(event, bucket="ours") == ["documents/abc/upload file.pdf"]
    schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert lambda_handlers.uploaded_keys(schedule, bucket="ours") == []
