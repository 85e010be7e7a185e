"""RFC 9457 problem details: one renderer for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from docquery.errors import DocQueryError
from docquery.logs import request_id_var

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
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
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return problem_response(
        status=status,
        code=_HTTP_CODES.get(status, f"http_{status}"),
        title=phrase,
        detail=exc.detail if isinstance(exc.detail, str) and status < 500 else None,
        headers=dict(exc.headers) if exc.headers else None,
    )


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
