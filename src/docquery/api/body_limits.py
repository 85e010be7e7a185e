"""Request bodies: unambiguous framing, a cap per route, a time budget, and few read at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docquery.api.problems import error_response
from docquery.errors import BadFraming, BodyTimeout, DocQueryError, RequestTooLarge, ServerBusy
from docquery.settings import Settings

# The one route whose body is a file: it enforces its own (larger) size limit as it parses.
UPLOAD_ROUTE = ("POST", "/v1/documents")
_DISCONNECT: Message = {"type": "http.disconnect"}


@dataclass(frozen=True, slots=True)
class BodyRule:
    """What one kind of body may cost: bytes, and seconds of waiting (growing with min_rate)."""

    max_bytes: int | None
    seconds: float
    min_rate: float | None = None

    def budget(self, received: int) -> float:
        """Seconds the server may have waited for the body once `received` bytes are in."""
        extra = received / self.min_rate if self.min_rate else 0.0
        return self.seconds + extra


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The rules for JSON bodies and for uploads, and how many of each may arrive at once."""

    json: BodyRule
    upload: BodyRule
    json_readers: int
    upload_readers: int

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        return cls(
            json=BodyRule(int(settings.max_json_body_size), settings.body_timeout_seconds),
            # The upload route counts its own bytes (file_too_large, content_length_mismatch).
            upload=BodyRule(
                None, settings.body_timeout_seconds, min_rate=float(settings.upload_min_rate)
            ),
            json_readers=settings.max_body_readers,
            upload_readers=settings.max_upload_readers,
        )


class BodyLimitMiddleware:
    """Refuses ambiguous framing and oversized bodies up front; times and counts the rest."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits
        self._json_slots = Slots(limits.json_readers)
        self._upload_slots = Slots(limits.upload_readers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = (scope["method"], route_path(scope)) == UPLOAD_ROUTE
        rule = self.limits.upload if upload else self.limits.json
        if (refusal := _refusal(headers, rule)) is not None:
            await send_problem(refusal, scope, receive, send, close=True)
            return
        if not has_body(headers):
            await self.app(scope, receive, send)
            return
        slots = self._upload_slots if upload else self._json_slots
        body = _GuardedBody(receive, rule, slots)
        guarded = _GuardedSend(send, body)
        try:
            await self.app(scope, body.receive, guarded.send)
        finally:
            body.release()
        if body.error is not None and not guarded.app_started:
            await send_problem(body.error, scope, receive, send, close=True)


async def send_problem(
    error: DocQueryError, scope: Scope, receive: Receive, send: Send, *, close: bool
) -> None:
    """Answer with a domain error's problem; `close` when the body was left unread."""
    headers = {"Connection": "close"} if close else {}
    if isinstance(error, ServerBusy):
        headers["Retry-After"] = "1"
    await error_response(error, headers=headers)(scope, receive, send)


class Slots:
    """How many bodies are being read; when all are taken the next is refused, not queued."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0

    def take(self) -> bool:
        # No queue: a client that finds every slot taken is told to come back, not kept waiting
        # behind clients that may be trickling on purpose.
        if self.taken >= self.size:
            return False
        self.taken += 1
        return True

    def give(self) -> None:
        self.taken -= 1


def _refusal(headers: Headers, rule: BodyRule) -> DocQueryError | None:
    """What is wrong with the body's headers, before a byte of it is read."""
    if "transfer-encoding" in headers and "content-length" in headers:
        # RFC 9112 6.3: a server that does not forward such a request should refuse it.
        return BadFraming("send Transfer-Encoding or Content-Length, not both")
    lengths = headers.getlist("content-length")
    if len(set(lengths)) > 1 or any(not value.isdigit() for value in lengths):
        return BadFraming("Content-Length must be one number")
    if lengths and rule.max_bytes is not None and int(lengths[0]) > rule.max_bytes:
        return RequestTooLarge(f"the request body exceeds {rule.max_bytes} bytes")
    return None


def has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def route_path(scope: Scope) -> str:
    """The path the router will match: without the root path the app is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class _GuardedBody:
    """The body as the app receives it: counted, timed, and read under a slot.

    When a limit is crossed the app is told the client went away (so it stops and cleans up
    as it would then), and the middleware answers with the error once the app has returned.
    """

    def __init__(self, receive: Receive, rule: BodyRule, slots: Slots) -> None:
        self._receive = receive
        self._rule = rule
        self._slots = slots
        self._holding = False
        self.received = 0
        self.waited = 0.0
        self.complete = False
        self.error: DocQueryError | None = None

    async def receive(self) -> Message:
        if self.error is not None:
            return _DISCONNECT
        if self.complete:
            # After the body, the app only listens for the client going away: never timed.
            return await self._receive()
        if not self._holding and not self._take_slot():
            return self._fail(ServerBusy("too many requests are sending bodies; retry shortly"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._rule.budget(self.received) - self.waited):
                message = await self._receive()
        except TimeoutError:
            return self._fail(BodyTimeout("the request body arrived too slowly"))
        finally:
            self.waited += loop.time() - started
        return self._count(message)

    def _take_slot(self) -> bool:
        self._holding = self._slots.take()
        return self._holding

    def _count(self, message: Message) -> Message:
        if message["type"] != "http.request":
            self.complete = True
            self.release()
            return message
        self.received += len(message.get("body", b""))
        max_bytes = self._rule.max_bytes
        if max_bytes is not None and self.received > max_bytes:
            return self._fail(RequestTooLarge(f"the request body exceeds {max_bytes} bytes"))
        if not message.get("more_body", False):
            self.complete = True
            self.release()
        return message

    def _fail(self, error: DocQueryError) -> Message:
        self.error = error
        self.release()
        return _DISCONNECT

    def release(self) -> None:
        if self._holding:
            self._holding = False
            self._slots.give()


class _GuardedSend:
    """Passes the app's response on, unless the body failed first: then the error answers."""

    def __init__(self, send: Send, body: _GuardedBody) -> None:
        self._send = send
        self._body = body
        self.app_started = False

    async def send(self, message: Message) -> None:
        if self._body.error is not None and not self.app_started:
            return
        if message["type"] == "http.response.start":
            self.app_started = True
        await self._send(message)
