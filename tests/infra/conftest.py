"""Shared fixtures for the deployment-file tests (ECS, IAM, Dockerfile, compose).

These tests read files under infra/, the Dockerfile and docker-compose.yml; from the docquery
package they take only the Settings model, so a deployment file cannot name a setting that
does not exist.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from pydantic import AliasChoices

from docquery.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every environment variable the application reads, from the Settings model itself. A deployment
# file that sets anything else has a typo or a stale name.
APP_SETTINGS = frozenset(
    alias
    for field in Settings.model_fields.values()
    if isinstance(field.validation_alias, AliasChoices)
    for alias in field.validation_alias.choices
    if isinstance(alias, str)
)

# Settings that must only ever come from a secret store, never from plain configuration.
SECRET_SETTINGS = frozenset({"SECRET_KEY", "DOCQUERY_API_KEYS"})

# Variables read by the AWS SDK itself (static credentials: local emulator only).
AWS_SDK_CREDENTIALS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})


def load_json(relative: str) -> Any:
    return json.loads((REPO_ROOT / relative).read_text(encoding="utf-8"))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def app_settings() -> frozenset[str]:
    return APP_SETTINGS


@pytest.fixture
def secret_settings() -> frozenset[str]:
    return SECRET_SETTINGS


@pytest.fixture
def aws_sdk_credentials() -> frozenset[str]:
    return AWS_SDK_CREDENTIALS


@pytest.fixture
def task_definition() -> dict[str, Any]:
    return load_json("infra/ecs-task-definition.json")


@pytest.fixture
def service_definition() -> dict[str, Any]:
    return load_json("infra/ecs-service.json")


@pytest.fixture
def task_policy() -> dict[str, Any]:
    return load_json("infra/iam-task-policy.json")


@pytest.fixture
def execution_policy() -> dict[str, Any]:
    return load_json("infra/iam-execution-policy.json")


@pytest.fixture
def container(task_definition: dict[str, Any]) -> dict[str, Any]:
    containers = task_definition["containerDefinitions"]
    assert [c["name"] for c in containers] == ["docquery"]
    return containers[0]


@pytest.fixture
def container_env(container: dict[str, Any]) -> dict[str, str]:
    names = [item["name"] for item in container["environment"]]
    assert len(names) == len(set(names)), f"duplicate environment entries: {sorted(names)}"
    return {item["name"]: item["value"] for item in container["environment"]}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 (random port) with dummy credentials in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """The module's moto server, emptied before the test so tests do not see each other's state."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return moto_endpoint
