"""A TCP proxy in front of the moto server that can play a store outage.

`refuse()` closes the port (connections are refused, open ones are cut), `stall()` keeps
accepting but never forwards a byte in either direction (a black hole: nothing is read, nothing
answered), `restore()` forwards again on the same port. `slow(rate)` forwards at most `rate` bytes a
second in each direction, a slow link that keeps moving.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class OutageProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._server: asyncio.Server | None = None
        self._port = 0
        self._rate: float | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Connections to the port are refused; the open ones are cut."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._cut_all()

    def stall(self) -> None:
        """Accept, then neither read nor answer; the open connections go silent too."""
        self._flowing.clear()

    def slow(self, rate: float | None) -> None:
        """Forward at most `rate` bytes a second (None: as fast as it goes)."""
        self._rate = rate

    async def restore(self) -> None:
        self._flowing.set()
        self._cut_all()  # stalled connections never recover by themselves; clients reconnect
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.refuse()

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if not self._flowing.is_set():
            writer.transport.pause_reading()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for end in (writer, up_writer):
            end.transport.abort()
            self._writers.discard(end)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(16384):
                if self._rate:
                    await asyncio.sleep(len(data) / self._rate)
                await self._flowing.wait()  # a stall silences open connections too
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
