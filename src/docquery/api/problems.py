"""RFC 9457 problem details: one renderer for every error the API returns."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from docquery.errors import DocQueryError, MalformedBody
from docquery.logs import request_id_var

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# The statuses Starlette and FastAPI raise HTTPException with, each with a stable code; any other
# status gets the snake_case of its standard reason phrase (never a code made of digits).
_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def problem_body(
    *, status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:docquery:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if (request_id := request_id_var.get()) is not None:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status=status, code=code, title=title, detail=detail, **extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def error_body(exc: DocQueryError) -> dict[str, Any]:
    """The problem body of a domain error; a 5xx keeps its internal text out of it."""
    if exc.status >= 500:
        return problem_body(status=exc.status, code=exc.code, title=exc.title)
    return problem_body(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocQueryError)
    return error_response(exc)


def error_response(exc: DocQueryError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem response of a domain error (also sent by the middleware, before routing)."""
    if exc.status >= 500:
        # Internal text stays in the log; the client gets the stable title and code.
        log.warning("request.failed", extra={"code": exc.code, "status": exc.status})
        return problem_response(status=exc.status, code=exc.code, title=exc.title, headers=headers)
    if exc.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="docquery"'} | (headers or {})
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=headers,
        **exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        # Not JSON at all is the body's syntax, not its content: the same 400 as a non-UTF-8 one.
        return error_response(MalformedBody("the body is not valid JSON"))
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(
        status=422,
        code="validation_error",
        title="Request validation failed",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400:
        # FastAPI's only 400: a body it could not decode (JSON that is not UTF-8).
        return error_response(MalformedBody(exc.detail if isinstance(exc.detail, str) else None))
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    headers = dict(exc.headers) if exc.headers else {}
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request, headers.get("Allow")))
    return problem_response(
        status=status,
        code=http_code(status),
        title=phrase,
        detail=exc.detail if isinstance(exc.detail, str) and status < 500 else None,
        headers=headers or None,
    )


def http_code(status: int) -> str:
    """The stable code of a Starlette or FastAPI HTTPException's status."""
    if status in _HTTP_CODES:
        return _HTTP_CODES[status]
    if status in HTTPStatus._value2member_map_:
        return re.sub("[^a-z]+", "_", HTTPStatus(status).phrase.lower()).strip("_")
    return "internal_error" if status >= 500 else "bad_request"


def allowed_methods(request: Request, given: str | None) -> list[str]:
    """Every method of the path the request names; the router's Allow has only one route's."""
    scope = request.scope
    root = scope.get("root_path", "")
    path = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
    routes = [
        (route.path_format, route.path_regex, route.methods)
        for route in iter_route_contexts(request.app.routes)
        if route.methods
    ]
    # The first match wins, as in the router: /v1/documents/bulk is the bulk path, not an id.
    template = next((template for template, regex, _ in routes if regex.match(path)), None)
    if template is None:  # a mounted app (static files) named its own methods
        return [method.strip() for method in (given or "").split(",") if method.strip()]
    return sorted({m for other, _, methods in routes if other == template for m in methods or ()})


async def _client_disconnected(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; the upload was already aborted and cleaned up on the way out.
    log.info("request.client_disconnected", extra={"code": "client_disconnected"})
    return problem_response(status=400, code="client_disconnected", title="Client disconnected")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("request.crashed", exc_info=exc)
    return problem_response(status=500, code="internal_error", title="Internal error")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DocQueryError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "validation_error: what was wrong, field by field",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route can give."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
