"""Health, readiness and the OpenAPI spec."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from docquery.wiring import open_aws_clients
from support.api import assert_problem
from support.harness import Harness


async def test_liveness(harness: Harness) -> None:
    response = await harness.anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def ready(harness: Harness) -> httpx.Response:
    """/readyz once it answers 200: on aws, a task's search index is built first."""
    for _ in range(100):
        response = await harness.anonymous.get("/readyz")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.05)
    return response


async def test_readiness_checks_the_stores_and_the_search_index(harness: Harness) -> None:
    response = await ready(harness)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"blob_store": "ok", "document_store": "ok", "search_index": "ok"},
    }


@pytest.mark.parametrize("profile", ["aws"])
@pytest.mark.parametrize("lost", ["blob_store", "document_store"])
async def test_readiness_names_what_is_down(harness: Harness, lost: str) -> None:
    settings = harness.settings
    assert (await ready(harness)).status_code == 200
    async with open_aws_clients(settings) as clients:
        if lost == "blob_store":
            await clients.s3.delete_bucket(Bucket=settings.s3_bucket)
        else:
            await clients.dynamodb.update_table(
                TableName=settings.dynamodb_table, DeletionProtectionEnabled=False
            )
            await clients.dynamodb.delete_table(TableName=settings.dynamodb_table)
    response = await harness.anonymous.get("/readyz")
    problem = assert_problem(response, 503, "not_ready")
    up = "document_store" if lost == "blob_store" else "blob_store"
    assert problem["checks"] == {lost: "down", up: "ok", "search_index": "ok"}
    assert problem["detail"] == f"down: {lost}"
    # Liveness touches nothing, so it stays up.
    assert (await harness.anonymous.get("/healthz")).status_code == 200


async def test_request_id_is_echoed_or_made(harness: Harness) -> None:
    given = await harness.anonymous.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await harness.anonymous.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] != "bad id\twith spaces"
    assert len(made.headers["x-request-id"]) == 32
    problem = await harness.anonymous.get("/v1/documents", headers={"X-Request-ID": "req-7"})
    assert problem.json()["request_id"] == "req-7"


async def test_unknown_route_and_method_are_problems(harness: Harness) -> None:
    assert_problem(await harness.alice.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(await harness.alice.put("/v1/documents"), 405, "method_not_allowed")


async def test_openapi_spec_is_valid_and_upload_has_a_file_picker(harness: Harness) -> None:
    spec: dict[str, Any] = (await harness.anonymous.get("/openapi.json")).json()
    validate(spec)  # raises on any violation of OpenAPI 3.1
    upload = spec["paths"]["/v1/documents"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert schema["required"] == ["file"]
    assert {"201", "200", "413", "415", "422"} <= set(upload["responses"])
    problem = upload["responses"]["413"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert set(spec["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    docs = await harness.anonymous.get("/docs")
    assert "swagger-ui" in docs.text


@pytest.mark.parametrize("profile", ["embedded"])
async def test_cors_exposes_the_headers_clients_need(make_harness) -> None:  # type: ignore[no-untyped-def]
    async with make_harness(cors_origins=["https://app.example"]) as harness:
        preflight = await harness.anonymous.options(
            "/v1/documents",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "if-match, x-api-key",
            },
        )
        assert preflight.status_code == 200
        response = await harness.alice.get(
            "/v1/documents", headers={"Origin": "https://app.example"}
        )
        exposed = response.headers["access-control-expose-headers"]
        assert {"ETag", "Location", "X-Request-ID"} <= {h.strip() for h in exposed.split(",")}
        other = await harness.alice.get("/v1/documents", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
