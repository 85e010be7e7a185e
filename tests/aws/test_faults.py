"""RELIABILITY.md "Faults" for S3 and DynamoDB: bounded retries, then a clear state.

Faults are injected with botocore's own event system on the app's real clients: a
`before-send` handler answers in place of the server, so botocore's retry logic (standard mode,
`aws_max_attempts` = 2 in tests) runs exactly as it would against AWS. The hook goes in by
wrapping `docquery.wiring.open_aws_clients` while the app starts; the harness's inspection
clients are opened separately and see the real moto server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiobotocore.awsrequest import AioAWSResponse
from asgi_lifespan import LifespanManager

from docquery import wiring
from docquery.app import create_app
from docquery.domain.documents import ListQuery
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest

    from docquery.settings import Settings
    from docquery.wiring import AwsClients
    from support.harness import Harness, HarnessFactory

pytestmark = pytest.mark.aws

MiB = 1024 * 1024
S3_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)
DYNAMODB_THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate exceeded",
    }
).encode()


@pytest.fixture
def profile() -> str:
    """Faults are about the AWS adapters: this module runs on the aws profile only."""
    return "aws"


class _Body:
    """The raw body of a canned response, as aiobotocore reads it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


def s3_internal_error(request: AWSPreparedRequest) -> AioAWSResponse:
    return AioAWSResponse(
        request.url,
        500,
        {"Content-Type": "application/xml", "Content-Length": str(len(S3_INTERNAL_ERROR))},
        _Body(S3_INTERNAL_ERROR),
    )


def dynamodb_throttled(request: AWSPreparedRequest) -> AioAWSResponse:
    return AioAWSResponse(
        request.url,
        400,
        {
            "Content-Type": "application/x-amz-json-1.0",
            "Content-Length": str(len(DYNAMODB_THROTTLED)),
        },
        _Body(DYNAMODB_THROTTLED),
    )


class Faults:
    """Counts calls per operation (and per S3 part) and answers the first `failures` of each
    faulty operation with a canned error; every other call goes to moto untouched."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.part_calls: Counter[int] = Counter()
        self._faulty: dict[str, tuple[int | None, Callable[..., AioAWSResponse]]] = {}
        # Attempts per call as the app's clients were actually configured (initial + retries).
        self.attempts: dict[str, int] = {}

    def fail(
        self, operation: str, respond: Callable[..., AioAWSResponse], *, times: int | None = None
    ) -> None:
        """Fail `operation` ("s3.UploadPart"), `times` calls per part/operation (None: always)."""
        self._faulty[operation] = (times, respond)

    def install(self, clients: AwsClients) -> None:
        for service, client in (("s3", clients.s3), ("dynamodb", clients.dynamodb)):
            client.meta.events.register(f"before-send.{service}", self._handler(service))
            self.attempts[service] = client.meta.config.retries["total_max_attempts"]

    def _handler(self, service: str) -> Callable[..., AioAWSResponse | None]:
        def before_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
            operation = f"{service}.{event_name.rsplit('.', 1)[-1]}"
            self.calls[operation] += 1
            seen = self.calls[operation]
            if operation == "s3.UploadPart":
                part = int(parse_qs(urlsplit(request.url).query)["partNumber"][0])
                self.part_calls[part] += 1
                seen = self.part_calls[part]
            if operation not in self._faulty:
                return None
            times, respond = self._faulty[operation]
            if times is None or seen <= times:
                return respond(request)
            return None

        return before_send


@contextlib.asynccontextmanager
async def faulty_client(h: Harness, faults: Faults) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the harness's bucket and table whose AWS clients carry `faults`."""
    original = wiring.open_aws_clients
    opened: list[AwsClients] = []

    @contextlib.asynccontextmanager
    async def open_with_faults(
        settings: Settings, session: Any = None
    ) -> AsyncIterator[AwsClients]:
        async with original(settings, session) as clients:
            faults.install(clients)
            opened.append(clients)
            yield clients

    app = create_app(h.settings)
    async with contextlib.AsyncExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(wiring, "open_aws_clients", open_with_faults)
            manager = await stack.enter_async_context(LifespanManager(app))
        assert len(opened) == 1, "the app should open its AWS clients once, at startup"
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://docquery.test",
                headers={"X-API-Key": h.alice.headers["X-API-Key"]},
                timeout=60,
            )
        )
        yield client


async def post_pdf(client: httpx.AsyncClient, content: bytes) -> httpx.Response:
    return await client.post(
        "/v1/documents", files={"file": ("fault.pdf", content, "application/pdf")}
    )


def pdf_of_size(size: int, marker: str) -> bytes:
    head = make_pdf(marker)
    return head + b"0" * (size - len(head))


async def state(h: Harness) -> tuple[list[str], int, list[Any]]:
    keys, pending, page = await asyncio.gather(
        h.blob_keys(),
        h.pending_uploads(),
        h.stores.documents.list_page(ListQuery(owner="alice", limit=100)),
    )
    return keys, pending, page.items


def assert_storage_problem(response: httpx.Response) -> None:
    """503 store_unavailable, no internal text: S3 or DynamoDB failing (5xx) or throttling after
    botocore's retries is an outage the client can retry later (issue 9, item 4)."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "store_unavailable", problem
    assert problem["status"] == response.status_code
    for leak in ("InternalError", "Throttling", "UploadPart", "TransactWrite", "Traceback"):
        assert leak not in response.text


# --- retry budget ---------------------------------------------------------------------------


async def test_aws_max_attempts_is_the_number_of_attempts_per_call(
    make_harness: HarnessFactory,
) -> None:
    # .env.example: "AWS_MAX_ATTEMPTS: Attempts per AWS call" (the AWS SDKs' meaning too). The
    # other tests here show each failing call is tried exactly faults.attempts times.
    async with make_harness() as h:
        faults = Faults()
        async with faulty_client(h, faults):
            pass
        expected = h.settings.aws_max_attempts
        assert faults.attempts == {"s3": expected, "dynamodb": expected}


# --- S3 ---------------------------------------------------------------------------------------


async def test_part_upload_failing_every_time_is_retried_then_aborted(
    make_harness: HarnessFactory,
) -> None:
    # One part in flight at a time: part 1 fails all its attempts before part 2 could start.
    async with make_harness(s3_part_size=5 * MiB, s3_upload_concurrency=1) as h:
        faults = Faults()
        faults.fail("s3.UploadPart", s3_internal_error)
        async with faulty_client(h, faults) as client:
            response = await post_pdf(client, pdf_of_size(7 * MiB, "part fails"))

        assert_storage_problem(response)
        assert faults.calls["s3.CreateMultipartUpload"] == 1
        assert dict(faults.part_calls) == {1: faults.attempts["s3"]}
        assert faults.attempts["s3"] >= 2
        assert faults.calls["s3.AbortMultipartUpload"] == 1
        assert faults.calls["s3.CompleteMultipartUpload"] == 0
        assert faults.calls["dynamodb.TransactWriteItems"] == 0
        assert await state(h) == ([], 0, [])


async def test_parts_failing_with_uploads_in_flight_leave_no_orphan_parts(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(s3_part_size=5 * MiB, s3_upload_concurrency=2) as h:
        faults = Faults()
        faults.fail("s3.UploadPart", s3_internal_error)
        async with faulty_client(h, faults) as client:
            response = await post_pdf(client, pdf_of_size(17 * MiB, "parts fail"))

        assert_storage_problem(response)
        # Bounded: no part was tried more than max_attempts times, and some part used them all.
        assert faults.part_calls, "no part upload was attempted"
        assert max(faults.part_calls.values()) == faults.attempts["s3"]
        assert faults.calls["s3.AbortMultipartUpload"] == 1
        assert await state(h) == ([], 0, [])


async def test_part_upload_failing_once_is_retried_and_succeeds(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(s3_part_size=5 * MiB) as h:
        faults = Faults()
        faults.fail("s3.UploadPart", s3_internal_error, times=1)
        content = pdf_of_size(12 * MiB, "part fails once")
        async with faulty_client(h, faults) as client:
            response = await post_pdf(client, content)
            assert response.status_code == 201, response.text
            document = response.json()
            download = await client.get(f"/v1/documents/{document['id']}/content")

        # Three parts (5 + 5 + 2 MiB), each failed once and then sent.
        assert dict(faults.part_calls) == {1: 2, 2: 2, 3: 2}
        assert faults.calls["s3.AbortMultipartUpload"] == 0
        assert download.status_code == 200
        assert download.content == content
        keys, pending, items = await state(h)
        assert keys == [f"documents/{document['id']}/original.pdf"]
        assert pending == 0
        assert [item.id for item in items] == [document["id"]]


async def test_small_put_and_complete_failing_leave_nothing(make_harness: HarnessFactory) -> None:
    async with make_harness(s3_part_size=5 * MiB) as h:
        faults = Faults()
        faults.fail("s3.PutObject", s3_internal_error)
        faults.fail("s3.CompleteMultipartUpload", s3_internal_error)
        async with faulty_client(h, faults) as client:
            small = await post_pdf(client, make_pdf("put fails"))
            large = await post_pdf(client, pdf_of_size(7 * MiB, "complete fails"))

        assert_storage_problem(small)
        assert faults.calls["s3.PutObject"] == faults.attempts["s3"]
        assert_storage_problem(large)
        assert faults.calls["s3.CompleteMultipartUpload"] == faults.attempts["s3"]
        assert faults.calls["s3.AbortMultipartUpload"] == 1
        assert await state(h) == ([], 0, [])


# --- DynamoDB ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [200_000, 7 * MiB], ids=["put-object", "multipart"])
async def test_record_throttled_every_time_removes_the_stored_object(
    make_harness: HarnessFactory, size: int
) -> None:
    async with make_harness(s3_part_size=5 * MiB) as h:
        faults = Faults()
        faults.fail("dynamodb.TransactWriteItems", dynamodb_throttled)
        async with faulty_client(h, faults) as client:
            response = await post_pdf(client, pdf_of_size(size, f"throttled {size}"))

        assert_storage_problem(response)
        # The object was stored first, then the record write was retried, then the object went.
        stored = faults.calls["s3.PutObject"] + faults.calls["s3.CompleteMultipartUpload"]
        assert stored == 1
        assert faults.calls["dynamodb.TransactWriteItems"] == faults.attempts["dynamodb"]
        assert faults.attempts["dynamodb"] >= 2
        assert faults.calls["s3.DeleteObjects"] >= 1
        assert await state(h) == ([], 0, [])


async def test_record_throttled_once_is_retried_and_succeeds(make_harness: HarnessFactory) -> None:
    async with make_harness() as h:
        faults = Faults()
        faults.fail("dynamodb.TransactWriteItems", dynamodb_throttled, times=1)
        content = make_pdf("throttled once")
        async with faulty_client(h, faults) as client:
            response = await post_pdf(client, content)
            assert response.status_code == 201, response.text
            document = response.json()
            download = await client.get(f"/v1/documents/{document['id']}/content")

        assert faults.calls["dynamodb.TransactWriteItems"] == 2
        assert faults.calls["s3.DeleteObjects"] == 0
        assert download.content == content
        keys, pending, items = await state(h)
        assert keys == [f"documents/{document['id']}/original.pdf"]
        assert pending == 0
        assert [(item.id, item.status.value) for item in items] == [(document["id"], "queued")]
