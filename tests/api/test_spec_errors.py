"""The spec documents every error as problem+json; malformed bodies and 405s answer as it says."""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from openapi_spec_validator import validate

from docquery.api.deps import PrincipalDep
from docquery.api.openapi import (
    API_OPERATION,
    EVERY_OPERATION,
    HTTP_METHODS,
    PROBLEM_REF,
    is_error,
)
from docquery.api.problems import PROBLEM_MEDIA_TYPE, http_code
from docquery.app import create_app
from support.api import assert_problem
from support.harness import Harness
from support.settings import embedded_settings

# Above the ports: one profile says it all.
EMBEDDED = pytest.mark.parametrize("profile", ["embedded"])


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def undocumented_errors(spec: dict[str, Any]) -> list[str]:
    """Each operation's error status that is missing, or is not a Problem as problem+json."""
    found = []
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        expected = set(EVERY_OPERATION)
        if path.startswith("/v1/"):
            expected |= API_OPERATION
        parameters = operation.get("parameters", [])
        if parameters or "requestBody" in operation:
            expected.add(422)
        if any(parameter["in"] == "path" for parameter in parameters):
            expected.add(404)
        found += [f"{method} {path}: no {status}" for status in expected - set(map(int, responses))]
        for status, response in responses.items():
            if is_error(status) and response.get("content") != {
                PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}
            }:
                found.append(f"{method} {path}: {status} is {response.get('content')}")
    return found


@EMBEDDED
async def test_every_error_of_every_operation_is_a_documented_problem(harness: Harness) -> None:
    spec: dict[str, Any] = (await harness.anonymous.get("/openapi.json")).json()
    validate(spec)
    assert len(operations(spec)) >= 15
    assert undocumented_errors(spec) == []
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert '"ValidationError"' not in text
    assert "#/components/schemas/ValidationError" not in text
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "code",
    ]
    # The id routes FastAPI used to give its own 422 (the issue named six).
    get_document = spec["paths"]["/v1/documents/{document_id}"]["get"]["responses"]
    assert get_document["422"]["content"] == {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    unauthenticated = spec["paths"]["/v1/documents"]["get"]["responses"]["401"]
    assert unauthenticated["headers"]["WWW-Authenticate"]["required"] is True


def test_a_route_added_later_is_documented_without_declaring_anything(tmp_path: Path) -> None:
    app = create_app(embedded_settings(tmp_path / "data"))
    router = APIRouter(prefix="/v1/widgets")

    @router.get("/{widget_id}")
    async def get_widget(widget_id: str, principal: PrincipalDep) -> dict[str, str]:
        return {"id": widget_id}

    app.include_router(router)
    spec = app.openapi()
    responses = spec["paths"]["/v1/widgets/{widget_id}"]["get"]["responses"]
    assert {"401", "404", "422", "500", "503"} <= set(responses)
    assert undocumented_errors(spec) == []
    assert "HTTPValidationError" not in json.dumps(spec)


@EMBEDDED
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/documents/d0000000000000000000000000000000", "DELETE, GET, PATCH"),
        ("POST", "/v1/documents/d0000000000000000000000000000000", "DELETE, GET, PATCH"),
        ("PUT", "/v1/documents", "GET, POST"),
        ("DELETE", "/v1/search", "GET, POST"),
        # The bulk path, not a document id: the first route that matches names the resource.
        ("PUT", "/v1/documents/bulk", "POST"),
        # FastAPI's routes do not answer HEAD, so it is not offered.
        ("HEAD", "/healthz", "GET"),
        ("POST", "/docs/assets/favicon.svg", "GET, HEAD"),
    ],
)
async def test_405_allows_every_method_of_the_path(
    harness: Harness, method: str, path: str, allow: str
) -> None:
    response = await harness.alice.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert_problem(response, 405, "method_not_allowed")


@EMBEDDED
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"q": "caf\xe9"}', id="latin-1"),
        pytest.param(b"\xff\xfe\x00{", id="binary"),
        pytest.param(b'{"q": "warfarin"', id="truncated-json"),
        pytest.param(b"q=warfarin", id="not-json"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/search", "/v1/query", "/v1/documents/bulk"])
async def test_a_body_that_is_not_json_is_400_malformed_body(
    harness: Harness, path: str, body: bytes
) -> None:
    response = await harness.alice.post(
        path, content=body, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 400, "malformed_body")
    assert problem["title"] == "Malformed request body"
    assert "warfarin" not in response.text  # the body is never echoed


@EMBEDDED
async def test_patch_with_a_body_that_is_not_utf8_is_400(harness: Harness) -> None:
    response = await harness.alice.patch(
        "/v1/documents/d0000000000000000000000000000000",
        content=b'{"title": "\xe9"}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_body")


def test_every_http_exception_status_has_a_stable_code() -> None:
    assert http_code(401) == "unauthenticated"
    assert http_code(404) == "not_found"
    assert http_code(405) == "method_not_allowed"
    assert http_code(409) == "conflict"
    assert http_code(599) == "internal_error"
    for status in HTTPStatus:
        if status >= 400:
            code = http_code(status)
            assert code.isidentifier(), code
            assert code.islower(), code
            assert not any(ch.isdigit() for ch in code), code
