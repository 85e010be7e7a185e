"""Pure-ASGI middleware: request id and one access-log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docquery.domain.ids import is_document_id
from docquery.logs import request_id_var

log = logging.getLogger("docquery.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContextMiddleware:
    """Accepts or makes an X-Request-ID, echoes it, and logs method, route, status and timing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("http.request", extra=_access_fields(scope, status, started))
            request_id_var.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = str(value.decode("latin-1"))
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def _access_fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
    route = scope.get("route")
    fields: dict[str, Any] = {
        "method": scope["method"],
        # The route template, not the raw path: no query strings or free text in logs.
        "route": getattr(route, "path", None) or "unmatched",
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    document_id = scope.get("path_params", {}).get("document_id")
    if document_id is not None:
        # The path is as sent: anything but one of our ids may be a name (patient data).
        fields["document_id"] = document_id if is_document_id(document_id) else "invalid"
    return fields
