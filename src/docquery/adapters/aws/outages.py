"""S3 and DynamoDB calls bounded in time; a store that is down becomes StoreUnavailable.

Every call the S3 and DynamoDB adapters make goes through `GuardedClient`, so no method can
forget it: the call gets `CALL_SECONDS` in all (botocore's connect and read timeouts and its
retries run inside that), or, when it sends a `ProgressBody`, `CALL_SECONDS` without progress
(a part on a slow link keeps going as long as it moves). Refused connections, timeouts, dropped
connections (`BotoCoreError`, aiohttp's errors, the deadline) and the errors AWS answers when it
is overloaded or failing (5xx, throttling, after botocore's retries) become `StoreUnavailable`
(503 `store_unavailable`), chained `from` the SDK error. Every other `ClientError` reaches the
adapter, which knows what its codes mean. docs/architecture.md, "Store outages", has the figures.
"""

from __future__ import annotations

import asyncio
import functools
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from docquery.errors import StoreUnavailable

T = TypeVar("T")

# What one call may take in all, retries included. A request makes at most two calls to a
# store that is down (an upload's clean-up is the second), so it fails within about 6 s.
CALL_SECONDS = 3.0
# A TCP (and TLS) connect to S3 or DynamoDB from inside the region takes milliseconds.
CONNECT_SECONDS = 1.0
# DynamoDB answers in milliseconds: a stalled attempt is retried within the deadline.
DYNAMODB_READ_SECONDS = 1.5
# A request body is handed to the kernel faster than a slow link carries it: once botocore has
# read the last byte, up to this much may still be on its way (Linux's default tcp_wmem
# maximum), and it is given the time to travel at this rate, at least, before S3 can answer.
_SOCKET_BUFFER = 4 * 1024 * 1024
_TAIL_RATE = 1024 * 1024
# aiohttp's read timeout, which starts once a body is written: longer than any body's tail.
# Calls without a body are held to CALL_SECONDS all the same.
S3_READ_SECONDS = CALL_SECONDS + _SOCKET_BUFFER / _TAIL_RATE + 1
OUTAGES = (BotoCoreError, aiohttp.ClientError, TimeoutError)
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)


def client_config(*, read_seconds: float, attempts: int) -> dict[str, Any]:
    """botocore Config arguments for a store: short timeouts, standard retries (jittered)."""
    return {
        # total_max_attempts counts the first try; botocore's max_attempts would add one.
        # Standard mode also keeps a retry quota per client: once an outage has cost 50
        # timed-out retries, calls fail at the first error until calls succeed again.
        "retries": {"mode": "standard", "total_max_attempts": attempts},
        "connect_timeout": CONNECT_SECONDS,
        "read_timeout": read_seconds,
        "max_pool_connections": 32,
    }


def is_outage(exc: BaseException) -> bool:
    """The store is down, unreachable, too slow or overloaded (not: our request was wrong)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code") in _THROTTLED
    return isinstance(exc, OUTAGES)


class ProgressBody(io.BytesIO):
    """A request body that notes when botocore last read from it: a stalled link stops reading."""

    def __init__(self, initial: bytes = b"") -> None:
        super().__init__(initial)
        self.moved_at = time.monotonic()

    def read(self, size: int | None = -1, /) -> bytes:
        self.moved_at = time.monotonic()
        return super().read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        self.moved_at = time.monotonic()  # a retry starts the body again
        return super().seek(offset, whence)


class GuardedClient:
    """An aiobotocore client whose calls are bounded and whose outages are StoreUnavailable."""

    def __init__(self, client: Any, *, store: str, seconds: float = CALL_SECONDS) -> None:
        self._client = client
        self._store = store
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        # The service's operations (get_object, update_item, ...); meta, waiters and
        # presigning (local: no request) are passed through.
        if name in self._client.meta.method_to_api_mapping:
            return functools.partial(self._call, attribute)
        return attribute

    def get_paginator(self, name: str) -> _GuardedPaginator:
        return _GuardedPaginator(self._client.get_paginator(name), self)

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        body = kwargs.get("Body")
        if isinstance(body, ProgressBody):
            body.moved_at = time.monotonic()
            idle = _until_idle(method(*args, **kwargs), body, self._seconds)
            return await self.guard(idle, bounded=False)
        return await self.guard(method(*args, **kwargs))

    async def guard(self, call: Awaitable[T], *, bounded: bool = True) -> T:
        """Await `call` (within the deadline when `bounded`); an outage is StoreUnavailable."""
        try:
            async with asyncio.timeout(self._seconds if bounded else None):
                return await call
        except Exception as exc:
            if is_outage(exc):
                raise StoreUnavailable(f"{self._store} does not answer") from exc
            raise


class _GuardedPaginator:
    """A paginator whose every page is fetched through the guard."""

    def __init__(self, paginator: Any, guard: GuardedClient) -> None:
        self._paginator = paginator
        self._guard = guard

    async def paginate(self, **kwargs: Any) -> AsyncIterator[Any]:
        pages = aiter(self._paginator.paginate(**kwargs))
        while True:
            try:
                page = await self._guard.guard(anext(pages))
            except StopAsyncIteration:
                return
            yield page


async def _until_idle(call: Awaitable[T], body: ProgressBody, idle: float) -> T:
    """Await `call`; TimeoutError once `body` has not been read for `idle` seconds (plus the
    time its tail needs to travel, once it has been read to the end)."""
    with body.getbuffer() as view:
        size = len(view)
    tail = min(size, _SOCKET_BUFFER) / _TAIL_RATE
    task = asyncio.ensure_future(call)
    try:
        while not task.done():
            allowed = idle + tail if body.tell() >= size else idle
            left = body.moved_at + allowed - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request body stopped moving")
            await asyncio.wait({task}, timeout=left)
        return task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
