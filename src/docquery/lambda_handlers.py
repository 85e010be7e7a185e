"""AWS Lambda entry points: the HTTP API, the processing of uploads, the scheduled sweeper.

The container never imports this module; Mangum (the `lambda` extra) is imported only by the
API function. Each execution environment keeps one event loop: Lambda freezes it between
invocations, and the next warm invocation carries on with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

from docquery.settings import Settings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Any, Any], Awaitable[None]]
# Processing stops claiming this long before Lambda's deadline: in-flight documents are
# handed back (the pipeline's stop) and the sweeper re-queues what could not be.
STOP_RESERVE_MS = 60_000
# The claim loop looks for due work every 2 s when idle: twice that with nothing running
# means nothing is due.
IDLE_SECONDS = 5.0

# Responses Mangum passes as text (anything else it base64-encodes for API Gateway).
TEXT_TYPES = [
    "application/json",
    "application/problem+json",
    "application/vnd.oai.openapi",
    "text/event-stream",
    "text/html",
    "text/plain",
]

_loop: asyncio.AbstractEventLoop | None = None
_api: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
_lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    """This environment's one loop (Mangum runs each request on the current loop)."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop


def lambda_settings(**overrides: Any) -> Settings:
    """Settings from the function's environment; only /tmp is writable on Lambda."""
    values: dict[str, Any] = {"pipeline_enabled": False, **overrides}
    return Settings(**values)


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) → the FastAPI app, without its pipeline."""
    global _api
    if _api is None:
        _api = _api_handler(lambda_settings())
    return _api(event, context)


def _api_handler(settings: Settings) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Mangum around the app whose lifespan ran once for this environment.

    Mangum's lifespan="auto" runs startup and shutdown around every invocation: every
    request would open the clients and start building the search copy again. So the
    lifespan is entered once here, and each request gets its state, as an ASGI server does.
    """
    global _lifespan
    from mangum import Mangum

    from docquery.app import create_app

    app = create_app(settings)
    loop = _event_loop()
    _lifespan = app.router.lifespan_context(app)
    entered: Any = loop.run_until_complete(_lifespan.__aenter__())
    state: dict[str, Any] = dict(entered or {})

    async def with_state(scope: Scope, receive: Any, send: Any) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)

    return Mangum(with_state, lifespan="off", text_mime_types=TEXT_TYPES)


def shutdown() -> None:
    """Close what the API function opened (Lambda itself never asks; tests and tools do)."""
    global _api, _lifespan, _loop
    if _loop is not None and _lifespan is not None:
        _loop.run_until_complete(_lifespan.__aexit__(None, None, None))
    if _loop is not None:
        _loop.close()
    _api = _lifespan = _loop = None


def process(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """S3 `ObjectCreated` events of direct uploads, or the schedule: register what landed,
    sweep, then process due documents until none is left or Lambda's time runs short."""
    settings = lambda_settings()
    remaining_ms = int(context.get_remaining_time_in_millis())
    return _event_loop().run_until_complete(_process(settings, event, remaining_ms))


async def _process(settings: Settings, event: dict[str, Any], remaining_ms: int) -> dict[str, Any]:
    from docquery.services.presigned_uploads import register_object
    from docquery.wiring import open_services

    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(remaining_ms - STOP_RESERVE_MS, 1_000) / 1000
    keys = uploaded_keys(event, bucket=settings.s3_bucket)
    states: dict[str, str | None] = {}
    # A fresh pipeline per invocation: nothing is left running while Lambda freezes.
    async with open_services(settings, pipeline=True, search_copy=False) as services:
        pipeline, direct = services.pipeline, services.direct_uploads
        assert pipeline is not None
        assert direct is not None
        for key in keys:
            state = await register_object(key, ports=direct)
            states[key] = state.value if state else None
        if event.get("source") == "aws.events":
            await pipeline.sweep_deletes()
            await pipeline.sweep()
        pipeline.notify()
        await _drain(lambda: pipeline.in_flight, deadline)
    return {"registered": sum(1 for s in states.values() if s == "stored"), "keys": len(keys)}


async def _drain(in_flight: Callable[[], int], deadline: float) -> None:
    """Wait until the pipeline has been idle long enough to have found no due work."""
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.2)
        if in_flight():
            idle_since = loop.time()
        elif loop.time() - idle_since >= IDLE_SECONDS:
            return
    log.info("lambda.processing_deadline")


def uploaded_keys(event: dict[str, Any], *, bucket: str) -> list[str]:
    """The object keys of an S3 event's `ObjectCreated` records in our bucket."""
    keys: list[str] = []
    for record in event.get("Records", []):
        if record.get("eventSource") != "aws:s3":
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3", {})
        if s3.get("bucket", {}).get("name") != bucket:
            continue
        with contextlib.suppress(KeyError, TypeError):
            # S3 events URL-encode keys (spaces as '+').
            keys.append(unquote_plus(s3["object"]["key"]))
    return keys
