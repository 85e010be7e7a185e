"""docker-compose.yml: moto and the fake Bedrock first, then `docquery init`, then the service,
with known settings."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DEV_KEY = "dev-key-change-me"
# Mirrors the aws profile's rule in docquery.settings (not imported here).
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "placeholder"}


@pytest.fixture(scope="module")
def compose_text() -> str:
    root = Path(__file__).resolve().parents[2]
    return (root / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def services(compose_text: str) -> dict[str, Any]:
    document = yaml.safe_load(compose_text)
    return document["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service["environment"]
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    assert all(isinstance(v, str) for v in env.values()), "quote values so YAML keeps strings"
    return env


def duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert parts, value
    assert "".join(n + u for n, u in parts) == value, value
    return sum(float(n) * units[u] for n, u in parts)


def command_args(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else command.split()


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == {"moto", "bedrock", "init", "docquery"}
    assert re.fullmatch(r"motoserver/moto:5\.\d+\.\d+", services["moto"]["image"])
    assert services["moto"]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    assert services["init"]["build"] == "."
    assert services["docquery"]["build"] == "."


def test_init_runs_after_moto_and_before_the_service(services: dict[str, Any]) -> None:
    init, app = services["init"], services["docquery"]
    assert command_args(init) == ["init"]
    assert init["depends_on"] == {"moto": {"condition": "service_healthy"}}
    assert app["depends_on"] == {
        "init": {"condition": "service_completed_successfully"},
        "bedrock": {"condition": "service_healthy"},
    }
    assert "command" not in app  # the image's CMD: serve on 0.0.0.0:8000
    assert init.get("restart", "no") == "no"


def test_fake_bedrock_runs_the_test_fake_on_the_image_python(
    services: dict[str, Any], repo_root: Path
) -> None:
    bedrock = services["bedrock"]
    dockerfile = (repo_root / "Dockerfile").read_text(encoding="utf-8")
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert bedrock["image"] == base
    [mount] = bedrock["volumes"]
    source, target, mode = mount.split(":")
    assert (repo_root / source).resolve() == repo_root / "tests" / "support" / "fake_bedrock.py"
    assert mode == "ro"
    args = command_args(bedrock)
    assert args[:2] == ["python", target]
    assert option(args, "--host") == "0.0.0.0"  # noqa: S104 - reached from the docquery container
    assert "ports" not in bedrock  # only docquery talks to it


def test_fake_bedrock_health_check_asks_its_health_endpoint(services: dict[str, Any]) -> None:
    bedrock = services["bedrock"]
    port = option(command_args(bedrock), "--port")
    test = bedrock["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"urlopen('http://127.0.0.1:{port}/health'" in test[3]


def test_service_sends_bedrock_calls_to_the_fake(services: dict[str, Any]) -> None:
    env = environment(services["docquery"])
    port = option(command_args(services["bedrock"]), "--port")
    assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == f"http://bedrock:{port}"
    assert env["BEDROCK_MODEL_ID"]
    assert env.get("DOCQUERY_LANGUAGE_MODEL", "auto") in {"auto", "bedrock"}
    # Textract stays off: moto's answers hold no text, so OCR would only fail locally.
    assert env.get("TEXTRACT_ENABLED", "false") == "false"


def test_service_publishes_port_8000(services: dict[str, Any]) -> None:
    [mapping] = services["docquery"]["ports"]
    assert str(mapping).rsplit(":", 1)[-1] == "8000"


def test_environment_is_known_settings(
    services: dict[str, Any], app_settings: frozenset[str], aws_sdk_credentials: frozenset[str]
) -> None:
    for name in ("init", "docquery"):
        env = environment(services[name])
        unknown = set(env) - app_settings - aws_sdk_credentials
        assert not unknown, f"{name}: {sorted(unknown)}"
        assert env["DOCQUERY_PROFILE"] == "aws"
        assert env["AWS_ENDPOINT_URL"] == "http://moto:5000"
        assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
        assert env["S3_BUCKET"]
        assert env["DYNAMODB_TABLE"]


def test_init_and_service_share_the_resources(services: dict[str, Any]) -> None:
    init, app = environment(services["init"]), environment(services["docquery"])
    for name in ("S3_BUCKET", "DYNAMODB_TABLE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        assert init[name] == app[name], name


def test_service_requires_api_keys(services: dict[str, Any]) -> None:
    env = environment(services["docquery"])
    assert env["DOCQUERY_AUTH"] == "api_key"
    secret = env["SECRET_KEY"]
    assert len(secret) >= 32
    assert secret.lower() not in PLACEHOLDER_SECRETS


def test_dev_api_key_digest_matches_the_documented_key(
    services: dict[str, Any], compose_text: str, repo_root: Path
) -> None:
    assert DEV_KEY in compose_text
    assert DEV_KEY in (repo_root / "infra" / "README.md").read_text(encoding="utf-8")
    entries = environment(services["docquery"])["DOCQUERY_API_KEYS"].split(",")
    digests = {owner: digest for owner, _, digest in (e.partition("=") for e in entries)}
    assert digests == {"dev": hashlib.sha256(DEV_KEY.encode()).hexdigest()}


def test_stop_grace_outlasts_graceful_shutdown(services: dict[str, Any]) -> None:
    app = services["docquery"]
    graceful = int(environment(app)["DOCQUERY_SHUTDOWN_TIMEOUT"])
    assert duration_seconds(app["stop_grace_period"]) > graceful
