"""Schemathesis against the app in process: no 5xx, and every answer as /openapi.json says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished
from schemathesis.python.asgi import get_client, shutdown_lifespans

from docquery.app import create_app
from support.pdfs import make_pdf
from support.settings import ALICE_KEY, embedded_settings

# Every operation runs, uploads too: schemathesis builds POST /v1/documents' multipart forms from
# the spec (random bytes as `file`: mostly 415 and 422, now and then a 201), which is what the
# upload parser must survive; real PDFs are uploaded in test_documents_api.py. Hypothesis emits no
# warning here, so pytest's filterwarnings = error stands as it is.
pytestmark = pytest.mark.slow

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    # Coverage cases with a method the path does not have: 405 with a complete Allow.
    "unsupported_method",
    "allow_header_conformance",
)


def config(max_examples: int) -> SchemathesisConfig:
    """A deterministic run: fixed seed, no example database, no stateful phase."""
    checks: dict[str, Any] = {"enabled": False} | {name: {"enabled": True} for name in CHECKS}
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261129,
            "generation": {"deterministic": True, "database": "none", "max-examples": max_examples},
            "phases": {"stateful": {"enabled": False}},
            "checks": checks,
            "operations": [
                {
                    # Direct uploads need a bucket: on the embedded profile every call is the
                    # documented 501 direct_uploads_unavailable (tests/aws covers the real thing).
                    "include-tag": "uploads",
                    "checks": {
                        "not_a_server_error": {"expected-statuses": ["2XX", "3XX", "4XX", 501]}
                    },
                }
            ],
        }
    )


def run(schema: schemathesis.BaseSchema) -> tuple[int, list[str]]:
    """Every scenario of every operation; how many ran, and each failure as one line."""
    scenarios, failures = 0, []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, FatalError):
            raise event.exception
        if isinstance(event, NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}")
        if isinstance(event, ScenarioFinished) and event.status is not Status.SKIP:
            scenarios += 1
            failures += _failed_checks(event)
    return scenarios, failures


def _failed_checks(event: ScenarioFinished) -> list[str]:
    lines = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status is Status.FAILURE and check.failure_info is not None:
                case = event.recorder.cases[case_id].value
                failure = check.failure_info.failure
                lines.append(
                    f"{event.label}: {check.name}: {failure.title}: {failure.message}"
                    f" ({case.method} {case.formatted_path} {case.query or ''})"
                )
    return lines


@pytest.mark.parametrize(
    ("key", "max_examples", "with_document"),
    [
        pytest.param(ALICE_KEY, 25, False, id="alice"),
        # Ids that exist, so the id routes answer 200, 409 and 412 too; DELETE would end that.
        pytest.param(ALICE_KEY, 10, True, id="alice-her-document"),
        pytest.param(None, 5, False, id="anonymous"),
    ],
)
def test_every_answer_matches_the_spec(
    tmp_path: Path, key: str | None, max_examples: int, with_document: bool
) -> None:
    app = create_app(embedded_settings(tmp_path / "data"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(max_examples))
    if key is not None:
        schema.config.update(headers={"X-API-Key": key})
    try:
        if with_document:
            schema.config.update(parameters={"path.document_id": _upload(app, key)})
            schema = schema.exclude(method="DELETE")
        scenarios, failures = run(schema)
    finally:
        shutdown_lifespans()  # the app's stores close before its temp dir goes
    assert scenarios >= len(list(schema.get_all_operations()))
    assert not failures, "\n".join(sorted(set(failures)))


def _upload(app: Any, key: str | None) -> str:
    """A document of the key's owner, uploaded through the app schemathesis runs."""
    with get_client(app) as client:
        response = client.post(
            "/v1/documents",
            files={"file": ("report.pdf", make_pdf("schemathesis"), "application/pdf")},
            headers={"X-API-Key": key or ""},
        )
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    return document_id
