"""RELIABILITY.md "Faults": S3 or DynamoDB refusing connections or stalling.

Every request that needs the store that is down fails within a few seconds with 503
`store_unavailable` (never 500, never a hang), and works again once the store is back. The app
under test reaches S3 and DynamoDB through a TCP proxy each (tests/support/outage_proxy.py), so
one store can go down while the other keeps answering; the harness itself talks to moto directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from docquery import wiring
from docquery.adapters.aws.provision import ensure_bucket
from docquery.app import create_app
from docquery.settings import Settings
from docquery.wiring import AwsClients, open_aws_clients
from support.moto import unique_name
from support.outage_proxy import OutageProxy
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from support.harness import Harness, HarnessFactory

pytestmark = pytest.mark.aws

MiB = 1024 * 1024
# What "within a few seconds" is held to: generous against a loaded CI machine. The adapters'
# own deadline is 3 s a call (docs/architecture.md, "Store outages").
BOUND_SECONDS = 10.0

Call = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


@pytest.fixture
def profile() -> str:
    return "aws"


@pytest.fixture
async def proxies(moto_endpoint: str) -> AsyncIterator[dict[str, OutageProxy]]:
    """One proxy in front of moto for the app's S3 client, one for its DynamoDB client."""
    started = {name: OutageProxy(moto_endpoint) for name in ("s3", "dynamodb")}
    for proxy in started.values():
        await proxy.start()
    yield started
    for proxy in started.values():
        await proxy.close()


@contextlib.asynccontextmanager
async def app_behind(
    h: Harness, proxies: dict[str, OutageProxy]
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the harness's bucket and table, its S3 and DynamoDB behind the proxies."""
    original = wiring.open_aws_clients

    @contextlib.asynccontextmanager
    async def split(settings: Settings, session: Any = None) -> AsyncIterator[AwsClients]:
        via = {
            name: settings.model_copy(update={"aws_endpoint_url": proxy.url})
            for name, proxy in proxies.items()
        }
        async with (
            original(via["s3"], session) as s3_side,
            original(via["dynamodb"], session) as dynamodb_side,
        ):
            yield AwsClients(s3=s3_side.s3, dynamodb=dynamodb_side.dynamodb)

    app = create_app(h.settings)
    async with contextlib.AsyncExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(wiring, "open_aws_clients", split)
            manager = await stack.enter_async_context(LifespanManager(app))
        yield await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://docquery.test",
                headers={"X-API-Key": h.alice.headers["X-API-Key"]},
            )
        )


async def upload(client: httpx.AsyncClient, document_id: str) -> httpx.Response:
    content = make_pdf(f"outage {time.monotonic_ns()}")
    return await client.post(
        "/v1/documents", files={"file": ("outage.pdf", content, "application/pdf")}
    )


def get(path: str) -> Call:
    return lambda client, document_id: client.get(path.format(id=document_id))


# What each store's outage must turn into a 503: every route that needs that store. (DELETE
# needs only DynamoDB: the record is marked first, and the sweeper removes the bytes later.)
S3_ROUTES: dict[str, Call] = {
    "upload": upload,
    "content": get("/v1/documents/{id}/content"),
}
DYNAMODB_ROUTES: dict[str, Call] = {
    **S3_ROUTES,
    "delete": lambda client, document_id: client.delete(f"/v1/documents/{document_id}"),
    "list": get("/v1/documents"),
    "get": get("/v1/documents/{id}"),
    "text": get("/v1/documents/{id}/text"),
    "summary": get("/v1/documents/{id}/summary"),
    "patch": lambda client, document_id: client.patch(
        f"/v1/documents/{document_id}", json={"title": "renamed"}
    ),
    "reprocess": lambda client, document_id: client.post(f"/v1/documents/{document_id}/reprocess"),
    "bulk": lambda client, document_id: client.post(
        "/v1/documents/bulk", json={"action": "add_tags", "ids": [document_id], "tags": ["x"]}
    ),
}
ROUTES = {"s3": S3_ROUTES, "dynamodb": DYNAMODB_ROUTES}


async def timed(call: Call, client: httpx.AsyncClient, document_id: str) -> tuple[Any, float]:
    started = time.monotonic()
    response = await call(client, document_id)
    return response, time.monotonic() - started


def assert_unavailable(name: str, response: httpx.Response) -> None:
    if name == "bulk":  # 200 with a result per id, each carrying the problem it hit
        assert response.status_code == 200, response.text
        assert [r["code"] for r in response.json()["results"]] == ["store_unavailable"]
        return
    assert response.status_code == 503, (name, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "store_unavailable", (name, response.text)
    assert "Traceback" not in response.text


@pytest.mark.parametrize("store", ["s3", "dynamodb"])
@pytest.mark.parametrize("outage", ["refused", "stalled"])
async def test_a_store_that_is_down_answers_503_within_seconds_and_recovers(
    make_harness: HarnessFactory, proxies: dict[str, OutageProxy], store: str, outage: str
) -> None:
    async with make_harness() as h, app_behind(h, proxies) as client:
        # One document per route that changes or removes it.
        ids = []
        for _ in ROUTES[store]:
            created = await upload(client, "")
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        proxy = proxies[store]
        if outage == "refused":
            await proxy.refuse()
        else:
            proxy.stall()
        # Each route is bounded on its own; they run at once so the test takes one bound.
        async with asyncio.timeout(3 * BOUND_SECONDS):
            results = await asyncio.gather(
                *(
                    timed(call, client, document_id)
                    for call, document_id in zip(ROUTES[store].values(), ids, strict=True)
                )
            )
        for name, (response, elapsed) in zip(ROUTES[store], results, strict=True):
            assert_unavailable(name, response)
            assert elapsed < BOUND_SECONDS, (name, elapsed)
        print(f"{store} {outage}: slowest 503 after {max(e for _, e in results):.2f} s")

        await proxy.restore()
        again = await upload(client, "")
        assert again.status_code == 201, again.text
        fetched = await client.get(f"/v1/documents/{again.json()['id']}/content")
        assert fetched.status_code == 200
        assert (await client.delete(f"/v1/documents/{ids[0]}")).status_code == 204


# --- multipart uploads when S3 goes away mid-upload ------------------------------------------


async def open_uploads(settings: Settings) -> list[str]:
    async with open_aws_clients(settings) as clients:
        response = await clients.s3.list_multipart_uploads(Bucket=settings.s3_bucket)
        return [upload["Key"] for upload in response.get("Uploads", [])]


async def multipart_body(
    boundary: str, first: bytes, rest: bytes, between: Callable[[], Awaitable[None]]
) -> AsyncIterator[bytes]:
    """A multipart form whose file arrives in two pieces, with `between` awaited in between."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    for offset in range(0, len(first), MiB):
        yield first[offset : offset + MiB]
    await between()
    for offset in range(0, len(rest), MiB):
        yield rest[offset : offset + MiB]
    yield f"\r\n--{boundary}--\r\n".encode()


async def test_s3_down_mid_upload_answers_503_and_leaves_no_upload_open_once_back(
    make_harness: HarnessFactory, proxies: dict[str, OutageProxy]
) -> None:
    async with make_harness(s3_part_size=5 * MiB, s3_upload_concurrency=1) as h:
        head = make_pdf("mid-upload outage")
        content = head + b"0" * (12 * MiB - len(head))

        async def s3_goes_down() -> None:
            # The first part is on its way: the upload is open at S3.
            async with asyncio.timeout(BOUND_SECONDS):
                while not await open_uploads(h.settings):  # noqa: ASYNC110 - polls moto
                    await asyncio.sleep(0.05)
            await proxies["s3"].refuse()

        boundary = "outage-boundary"
        async with app_behind(h, proxies) as client:
            started = time.monotonic()
            response = await client.post(
                "/v1/documents",
                content=multipart_body(
                    boundary, content[: 6 * MiB], content[6 * MiB :], s3_goes_down
                ),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            elapsed = time.monotonic() - started
            assert_unavailable("upload", response)
            assert elapsed < BOUND_SECONDS + 1, elapsed
            # The abort could not reach S3; it is tried again once S3 is back.
            assert await open_uploads(h.settings) != []
            await proxies["s3"].restore()
            async with asyncio.timeout(30):
                while await open_uploads(h.settings):  # noqa: ASYNC110 - polls moto
                    await asyncio.sleep(0.2)
        assert await h.blob_keys() == []


async def test_init_sets_a_lifecycle_rule_that_aborts_incomplete_uploads(
    moto_endpoint: str,
) -> None:
    # The backstop for an abort that never got through: S3 itself aborts after a day.
    bucket = unique_name("docquery-init")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, profile="embedded", aws_endpoint_url=moto_endpoint, s3_bucket=bucket
    )
    async with open_aws_clients(settings) as clients:
        await ensure_bucket(clients.s3, bucket=bucket, region="us-east-1", kms_key_id=None)
        await ensure_bucket(clients.s3, bucket=bucket, region="us-east-1", kms_key_id=None)
        rules = (await clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket))["Rules"]
    assert [
        (rule["Status"], rule.get("Filter"), rule.get("AbortIncompleteMultipartUpload"))
        for rule in rules
    ] == [("Enabled", {"Prefix": ""}, {"DaysAfterInitiation": 1})]


async def test_a_slow_link_that_keeps_moving_is_not_cut_off(
    make_harness: HarnessFactory, proxies: dict[str, OutageProxy]
) -> None:
    # 1.5 MiB/s: the 5 MiB part takes over 3 s, longer than a call's whole deadline; that must
    # not count, as the part keeps moving. (The proxy's pace makes the upload take 4 s at least.)
    async with make_harness(s3_part_size=5 * MiB, s3_upload_concurrency=1) as h:
        head = make_pdf("slow link")
        content = head + b"0" * (6 * MiB - len(head))
        async with app_behind(h, proxies) as client:
            proxies["s3"].slow(1.5 * MiB)
            started = time.monotonic()
            response = await client.post(
                "/v1/documents", files={"file": ("slow.pdf", content, "application/pdf")}
            )
            elapsed = time.monotonic() - started
            proxies["s3"].slow(None)
            assert response.status_code == 201, response.text
            download = await client.get(f"/v1/documents/{response.json()['id']}/content")
        assert download.content == content
        assert elapsed > 3.5, elapsed  # the link really was slower than the deadline
        assert await open_uploads(h.settings) == []
