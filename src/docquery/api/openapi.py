"""The OpenAPI document: every error status of every operation, as problem+json."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from docquery.api.auth_gate import API_PREFIX
from docquery.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# The body middleware sees every request before routing: ambiguous framing (400), a body too
# slow (408) or too large (413), too many bodies at once (503); and a bug anywhere is a 500.
EVERY_OPERATION = frozenset({400, 408, 413, 500, 503})
# Behind the API prefix the auth gate answers 401, and every route reaches a store, whose
# failures are 502 storage_error or 503 store_unavailable.
API_OPERATION = frozenset({401, 502})
# FastAPI's own validation error schemas: our 422 is a Problem, so they must not be published.
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")
_WWW_AUTHENTICATE = {
    "description": "The scheme to authenticate with (Bearer, or the X-API-Key header)",
    "required": True,
    "schema": {"type": "string"},
}


def install_openapi(app: FastAPI) -> None:
    """Make /openapi.json document problem+json for every error any route can answer."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each operation's error responses completed and made Problems."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                _document_operation(path, operation)
    return schema


def error_statuses(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, whatever its route declared."""
    statuses = set(EVERY_OPERATION)
    if path == API_PREFIX or path.startswith(f"{API_PREFIX}/"):
        statuses |= API_OPERATION
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.add(422)  # a parameter or body that fails validation
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)  # a path parameter names something that may not exist (or not be yours)
    return statuses


def is_error(status: str) -> bool:
    """Whether a responses key stands for an error (4xx, 5xx, their ranges, or default)."""
    return status == "default" or status[:1] in ("4", "5")


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code in error_statuses(path, operation):
        responses.setdefault(str(code), {"description": HTTPStatus(code).phrase})
    for status, response in responses.items():
        if is_error(status):
            # Replaces FastAPI's default 422 (HTTPValidationError as application/json) too.
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    if "401" in responses:
        responses["401"].setdefault("headers", {})["WWW-Authenticate"] = _WWW_AUTHENTICATE
    operation["responses"] = dict(sorted(responses.items()))
