"""RELIABILITY.md "Bad uploads": a client that goes away half way leaves nothing behind.

The app is called as an ASGI server would call it, with a `receive` that hands over part of a
valid upload and then reports `http.disconnect` (or never answers, and the request task is
cancelled). Afterwards there is no record, no blob, no temporary file and no open S3 multipart
upload. A probe run just before the disconnect shows the partial upload did exist (a temp file on
embedded, an open multipart upload on aws), so the clean state afterwards is the abort's doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import ClientDisconnect

from docquery.app import create_app
from docquery.domain.documents import ListQuery
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from support.harness import Harness, HarnessFactory

BOUNDARY = b"disconnect-boundary-51c2"
CHUNK = 64 * 1024
MiB = 1024 * 1024

Message = dict[str, Any]
Probe = Callable[[], Awaitable[Any]]


def upload_body(content: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="partial.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + content + b"\r\n--" + BOUNDARY + b"--\r\n"
    )


def big_content(size: int) -> bytes:
    return make_pdf("big partial upload") + b"0" * size


def upload_scope(h: Harness, body_length: int) -> dict[str, Any]:
    api_key = h.alice.headers["X-API-Key"]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/documents",
        "raw_path": b"/v1/documents",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"docquery.test"),
            (b"x-api-key", api_key.encode()),
            (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY),
            (b"content-length", str(body_length).encode()),
        ],
        "server": ("docquery.test", 80),
        "client": ("127.0.0.1", 50000),
    }


@contextlib.asynccontextmanager
async def running_app(h: Harness) -> AsyncIterator[Any]:
    """A second app on the harness's settings (same storage), callable as raw ASGI.

    The harness's clients go through asgi-lifespan's state wrapper; calling `h.app` directly
    would miss the lifespan state, so this opens its own LifespanManager and hands out the
    wrapped app.
    """
    app = create_app(h.settings)
    async with LifespanManager(app) as manager:
        yield manager.app


class PartialClient:
    """An ASGI client that sends `send_bytes` of the body, runs a probe, then goes away."""

    def __init__(self, body: bytes, send_bytes: int, probe: Probe, *, hang: bool = False) -> None:
        assert 0 < send_bytes < len(body)
        self._chunks: Iterator[bytes] = (
            body[start : min(start + CHUNK, send_bytes)] for start in range(0, send_bytes, CHUNK)
        )
        self._probe = probe
        self._hang = hang
        self.sent = 0
        self.probed: Any = None
        self.stalled = asyncio.Event()
        self.messages: list[Message] = []

    async def receive(self) -> Message:
        chunk = next(self._chunks, None)
        if chunk is not None:
            self.sent += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if not self.stalled.is_set():
            # Every chunk so far has been handled: this is the partial upload at its fullest.
            self.probed = await self._probe()
            self.stalled.set()
        if self._hang:
            await asyncio.Event().wait()  # until the request task is cancelled
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    def statuses(self) -> list[int]:
        return [m["status"] for m in self.messages if m["type"] == "http.response.start"]


def partial_state(h: Harness) -> Probe:
    async def probe() -> list[str] | int:
        if h.settings.profile == "aws":
            return await h.pending_uploads()
        return await h.blob_keys()

    return probe


async def assert_nothing_left(h: Harness) -> None:
    keys, pending, page = await asyncio.gather(
        h.blob_keys(),
        h.pending_uploads(),
        h.stores.documents.list_page(ListQuery(owner="alice", limit=100)),
    )
    assert keys == []
    assert pending == 0
    assert page.items == []


def assert_partial_upload_existed(h: Harness, probed: Any) -> None:
    if h.settings.profile == "aws":
        assert probed == 1, "no multipart upload was open before the disconnect"
    else:
        assert len(probed) == 1, probed
        assert probed[0].startswith("tmp/upload-")


async def test_disconnect_half_way_through_a_small_upload(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = harness
    body = upload_body(make_pdf("small partial upload") + b"0" * 200_000)
    client = PartialClient(body, len(body) // 2, partial_state(h))

    async with running_app(h) as app:
        with contextlib.suppress(ClientDisconnect):
            await app(upload_scope(h, len(body)), client.receive, client.send)

    assert client.stalled.is_set()
    assert client.sent == len(body) // 2
    # Nothing stored yet when the client left (a small file is held in memory).
    assert client.probed in (0, [])
    # An expected event, not a crash: no 500, nothing logged as an error.
    assert client.statuses() == [400]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "request.client_disconnected" in caplog.messages
    await assert_nothing_left(h)


async def test_disconnect_after_storage_writes_began(make_harness: HarnessFactory) -> None:
    async with make_harness(s3_part_size=5 * MiB) as h:
        body = upload_body(big_content(30 * MiB))
        client = PartialClient(body, 12 * MiB, partial_state(h))

        async with running_app(h) as app:
            with contextlib.suppress(ClientDisconnect):
                await app(upload_scope(h, len(body)), client.receive, client.send)

        assert client.stalled.is_set()
        assert_partial_upload_existed(h, client.probed)
        assert all(status >= 400 for status in client.statuses()), client.statuses()
        await assert_nothing_left(h)


async def test_request_cancelled_after_storage_writes_began(make_harness: HarnessFactory) -> None:
    # A server may cancel a request task instead (shutdown, or a cancel scope around it): the
    # abort is shielded, so it still runs to the end.
    async with make_harness(s3_part_size=5 * MiB) as h:
        body = upload_body(big_content(30 * MiB))
        client = PartialClient(body, 12 * MiB, partial_state(h), hang=True)

        async with running_app(h) as app:
            task = asyncio.create_task(app(upload_scope(h, len(body)), client.receive, client.send))
            await asyncio.wait_for(client.stalled.wait(), timeout=30)
            await asyncio.sleep(0)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        assert_partial_upload_existed(h, client.probed)
        assert client.statuses() == []
        await assert_nothing_left(h)
