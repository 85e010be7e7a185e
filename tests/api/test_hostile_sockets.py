"""Hostile clients over real sockets: trickled bodies, too many readers, ambiguous framing.

The app runs under uvicorn on 127.0.0.1 with small limits; clients are raw sockets, so
nothing between them and the server smooths out what they send.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from docquery.api.body_limits import BodyLimitMiddleware
from docquery.app import create_app
from support import multipart
from support.pdfs import make_pdf
from support.settings import ALICE_KEY, embedded_settings

# uvicorn's default is httptools when it is installed, h11 otherwise: test what is there.
HTTP_IMPLS = [impl for impl in ("h11", "httptools") if importlib.util.find_spec(impl)]
SEARCH = {"q": "anything"}
SEARCH_BYTES = json.dumps(SEARCH).encode()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Inside pytest, Ctrl-C belongs to pytest, not to this server.
        yield


@dataclass
class Served:
    app: FastAPI
    port: int
    clients: list[RawClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, http: str = "h11", **overrides: Any) -> AsyncIterator[Served]:
    """The app under uvicorn on a free loopback port."""
    app = create_app(embedded_settings(tmp_path / "data", **overrides))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, ws="none", lifespan="on", http=http, access_log=False
    )
    server = _Server(config)
    served = Served(app, sock.getsockname()[1])
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield served
    finally:
        for client in served.clients:
            client.close()
        server.should_exit = True
        await task
        sock.close()


class RawClient:
    """One connection that sends a request head, then its body as slowly as it likes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, served: Served, head: str) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(head.encode("latin-1"))
        await writer.drain()
        client = cls(reader, writer)
        served.clients.append(client)
        return client

    async def trickle(self, data: bytes, *, every: float) -> None:
        """Send the body a piece at a time until it is sent or the server hangs up."""
        with contextlib.suppress(ConnectionError):
            for offset in range(0, len(data), 16):
                self.writer.write(data[offset : offset + 16])
                await self.writer.drain()
                await asyncio.sleep(every)

    async def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """One response: status, headers and JSON body."""
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, json.loads(body)

    async def closed(self) -> bool:
        """Whether the server ends the connection (with nothing more to say)."""
        try:
            return await self.reader.read() == b""
        except ConnectionError:  # the hang-up reached us first as a failed write
            return True

    def close(self) -> None:
        self.writer.close()
        self.writer.transport.abort()


def head(method: str, path: str, *, key: str | None = ALICE_KEY, **headers: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"X-API-Key: {key}"] if key else []
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def pdf_form(marker: str) -> bytes:
    return multipart.body(
        multipart.part("file", make_pdf(marker), filename="r.pdf", content_type="application/pdf")
    )


def body_limit_of(app: FastAPI) -> BodyLimitMiddleware:
    node: Any = app.middleware_stack
    while not isinstance(node, BodyLimitMiddleware):
        node = node.app
    return node


async def eventually(condition: Any, *, within: float = 10.0) -> None:
    """Poll a condition on the server's state until it holds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the server's counters
            await asyncio.sleep(0.02)


# --- item 3: bodies may not trickle forever, nor occupy every reader ---------------------------


@pytest.mark.parametrize("http", HTTP_IMPLS)
async def test_trickling_bodies_are_cut_off_and_other_clients_are_served(
    tmp_path: Path, http: str
) -> None:
    async with serving(tmp_path, http, body_timeout_seconds=1.0) as served:
        body = b'{"q": "' + b"a" * 1000 + b'"}'
        slow_head = head("POST", "/v1/search", Content_Type="application/json")
        slow_head = slow_head.replace("\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\n\r\n")
        slow = [await RawClient.open(served, slow_head) for _ in range(20)]
        trickles = [asyncio.create_task(c.trickle(body, every=0.25)) for c in slow]
        async with httpx.AsyncClient(base_url=served.url, headers={"X-API-Key": ALICE_KEY}) as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.post("/v1/search", json=SEARCH)).status_code == 200
        # 1,000 bytes at 64 a second would take 16 s; the deadline cuts each off after 1 s.
        async with asyncio.timeout(10):
            answers = await asyncio.gather(*(client.answer() for client in slow))
        for status, headers, problem in answers:
            assert (status, problem["code"]) == (408, "body_timeout")
            assert headers["connection"] == "close"
        async with asyncio.timeout(10):
            assert all(await asyncio.gather(*(client.closed() for client in slow)))
        for task in trickles:
            task.cancel()
        assert body_limit_of(served.app)._json_slots.taken == 0


@pytest.mark.parametrize("http", HTTP_IMPLS)
async def test_only_so_many_bodies_are_read_at_once(tmp_path: Path, http: str) -> None:
    async with serving(tmp_path, http, max_body_readers=2, body_timeout_seconds=60) as served:
        slow_head = head("POST", "/v1/search", Content_Type="application/json", Content_Length="50")
        slow = [await RawClient.open(served, slow_head) for _ in range(2)]
        for client in slow:
            client.writer.write(b"{")
        slots = body_limit_of(served.app)._json_slots
        await eventually(lambda: slots.taken == 2)
        async with httpx.AsyncClient(base_url=served.url, headers={"X-API-Key": ALICE_KEY}) as c:
            busy = await c.post("/v1/search", json=SEARCH)
            assert (busy.status_code, busy.json()["code"]) == (503, "server_busy")
            assert busy.headers["retry-after"] == "1"
            # Requests without a body, and uploads (counted apart), go on being served.
            assert (await c.get("/v1/documents")).status_code == 200
            uploaded = await c.post(
                "/v1/documents", content=pdf_form("while busy"), headers=multipart.headers()
            )
            assert uploaded.status_code == 201, uploaded.text
            for client in slow:
                client.close()
            await eventually(lambda: slots.taken == 0)
            assert (await c.post("/v1/search", json=SEARCH)).status_code == 200


@pytest.mark.parametrize("http", HTTP_IMPLS)
async def test_a_slow_steady_upload_finishes_and_a_trickled_one_is_cut_off(
    tmp_path: Path, http: str
) -> None:
    overrides = {"body_timeout_seconds": 1.0, "upload_min_rate": 2048}
    async with serving(tmp_path, http, **overrides) as served:
        steady_body, trickled_body = pdf_form("s" * 8000), pdf_form("t" * 8000)
        assert len(steady_body) > 8000

        def upload_head(length: int) -> str:
            return head("POST", "/v1/documents", **multipart.headers(content_length=length))

        steady = await RawClient.open(served, upload_head(len(steady_body)))
        trickled = await RawClient.open(served, upload_head(len(trickled_body)))
        # 16 bytes every 5 ms (~3 KiB/s) stays above 2 KiB/s; 16 bytes every 0.5 s does not.
        sending = [
            asyncio.create_task(steady.trickle(steady_body, every=0.005)),
            asyncio.create_task(trickled.trickle(trickled_body, every=0.5)),
        ]
        async with asyncio.timeout(30):
            (cut_status, _, problem), (status, _, document) = await asyncio.gather(
                trickled.answer(), steady.answer()
            )
            assert await trickled.closed()
        for task in sending:
            task.cancel()
        assert (cut_status, problem["code"]) == (408, "body_timeout")
        assert status == 201
        async with httpx.AsyncClient(base_url=served.url, headers={"X-API-Key": ALICE_KEY}) as c:
            listed = (await c.get("/v1/documents")).json()["items"]
        assert [item["id"] for item in listed] == [document["id"]]
        assert list((tmp_path / "data" / "tmp").iterdir()) == []


# --- item 13: Transfer-Encoding with Content-Length is refused ----------------------------------


@pytest.mark.parametrize("http", HTTP_IMPLS)
async def test_transfer_encoding_with_content_length_is_refused(tmp_path: Path, http: str) -> None:
    async with serving(tmp_path, http) as served:
        chunked = f"{len(SEARCH_BYTES):x}\r\n".encode() + SEARCH_BYTES + b"\r\n0\r\n\r\n"
        request = head(
            "POST",
            "/v1/search",
            Content_Type="application/json",
            Content_Length=str(len(SEARCH_BYTES)),
            Transfer_Encoding="chunked",
        )
        client = await RawClient.open(served, request)
        client.writer.write(chunked)
        async with asyncio.timeout(10):
            status, headers, problem = await client.answer()
            assert await client.closed()
        assert (status, problem["code"]) == (400, "bad_request_framing")
        assert headers["connection"] == "close"


@pytest.mark.parametrize("http", HTTP_IMPLS)
async def test_an_anonymous_150_mib_body_is_answered_before_it_is_sent(
    tmp_path: Path, http: str
) -> None:
    async with serving(tmp_path, http) as served:
        request = head(
            "POST",
            "/v1/query",
            key=None,
            Content_Type="application/json",
            Content_Length=str(150 * 1024 * 1024),
        )
        client = await RawClient.open(served, request)
        async with asyncio.timeout(10):
            status, headers, problem = await client.answer()
            assert await client.closed()
        assert (status, problem["code"]) == (401, "unauthenticated")
        assert headers["connection"] == "close"
