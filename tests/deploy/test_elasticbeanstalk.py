"""deploy/elasticbeanstalk: option settings against botocore's shapes and moto's Elastic
Beanstalk, and a 40 MB upload through Debian's nginx with the generated proxy configuration."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
import yaml
from botocore.validate import ParamValidator

from docquery.settings import Settings
from support.settings import ALICE_KEY, API_KEYS

ROOT = Path(__file__).resolve().parents[2]
EB = ROOT / "deploy" / "elasticbeanstalk"
CONF = EB / ".platform" / "nginx" / "conf.d" / "docquery.conf"
sys.path.insert(0, str(EB))
import render_nginx  # noqa: E402

STACK = "64bit Amazon Linux 2023 v4.4.0 running Docker"


def option_settings() -> list[dict[str, str]]:
    """The .ebextensions option_settings as the API's ConfigurationOptionSetting list."""
    settings: list[dict[str, str]] = []
    for config in sorted((EB / ".ebextensions").glob("*.config")):
        for namespace, options in yaml.safe_load(config.read_text())["option_settings"].items():
            for name, value in options.items():
                settings.append({"Namespace": namespace, "OptionName": name, "Value": value})
    return settings


def test_option_settings_match_botocores_create_environment_shape() -> None:
    model = botocore.session.get_session().get_service_model("elasticbeanstalk")
    shape = model.operation_model("CreateEnvironment").input_shape
    params = {
        "ApplicationName": "medical-document-api",
        "EnvironmentName": "production",
        "SolutionStackName": STACK,
        "OptionSettings": option_settings(),
    }
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    found = {(s["Namespace"], s["OptionName"]): s["Value"] for s in option_settings()}
    assert found[("aws:elasticbeanstalk:application", "Application Healthcheck URL")] == "/healthz"
    assert found[("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath")] == (
        "/healthz"
    )
    assert found[("aws:autoscaling:launchconfiguration", "IamInstanceProfile")]
    assert found[("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")] == "true"


def test_every_environment_variable_is_a_setting_and_the_secrets_are_not_inline() -> None:
    known = {
        alias.upper()
        for field in Settings.model_fields.values()
        for alias in getattr(field.validation_alias, "choices", [])
    }
    env = render_nginx.environment()
    assert set(env) <= known, set(env) - known
    settings = Settings(_env_file=None, **{"api_keys": API_KEYS, **_as_fields(env)})  # type: ignore[arg-type]
    assert settings.profile == "aws"
    assert int(settings.shutdown_timeout) < 10  # docker stop's default grace on the platform
    assert "SECRET_KEY" not in env
    assert "DOCQUERY_API_KEYS" not in env


def _as_fields(env: dict[str, str]) -> dict[str, Any]:
    by_alias = {
        alias.upper(): name
        for name, field in Settings.model_fields.items()
        for alias in getattr(field.validation_alias, "choices", [])
    }
    return {by_alias[key]: value for key, value in env.items()}


def test_the_nginx_limit_follows_max_file_size() -> None:
    env = render_nginx.environment()
    assert CONF.read_text() == render_nginx.render(env["MAX_FILE_SIZE"]), (
        "run deploy/elasticbeanstalk/render_nginx.py"
    )
    assert "client_max_body_size 20065536;" in render_nginx.render("20MB")
    assert "proxy_request_buffering off;" in CONF.read_text()


@pytest.mark.aws
def test_the_application_and_environment_on_moto(moto_endpoint: str) -> None:
    eb = boto3.client("elasticbeanstalk", endpoint_url=moto_endpoint, region_name="us-east-1")
    eb.create_application(ApplicationName="medical-document-api")
    created = eb.create_environment(
        ApplicationName="medical-document-api",
        EnvironmentName="production",
        SolutionStackName=STACK,
        OptionSettings=option_settings(),
    )
    assert created["EnvironmentName"] == "production"
    described = eb.describe_environments(ApplicationName="medical-document-api")
    assert [e["EnvironmentName"] for e in described["Environments"]] == ["production"]


def test_dockerrun_runs_the_fargate_image_on_the_apps_port() -> None:
    dockerrun = json.loads((EB / "Dockerrun.aws.json").read_text())
    task = json.loads((ROOT / "infra" / "ecs-task-definition.json").read_text())
    container = task["containerDefinitions"][0]
    assert dockerrun["AWSEBDockerrunVersion"] == "1"
    assert dockerrun["Image"]["Name"].rsplit(":", 1)[0].endswith("/docquery")
    assert container["image"].rsplit(":", 1)[0].endswith("/docquery")
    assert dockerrun["Ports"][0]["ContainerPort"] == container["portMappings"][0]["containerPort"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def app_behind_nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The app (uvicorn, embedded profile) behind nginx configured as Beanstalk's is, with
    the generated conf.d file; yields nginx's URL and its client body temp folder."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (Debian package nginx; .ci/run installs it)")
    app_port, proxy_port = free_port(), free_port()
    env = os.environ | {
        "DOCQUERY_PROFILE": "embedded",
        "DOCQUERY_DATA_DIR": str(tmp_path / "data"),
        "DOCQUERY_AUTH": "api_key",
        "DOCQUERY_API_KEYS": ",".join(f"{o}={d}" for o, d in API_KEYS.items()),
        "PIPELINE_ENABLED": "false",
        "MAX_FILE_SIZE": render_nginx.environment()["MAX_FILE_SIZE"],
    }
    cli = [sys.executable, "-m", "docquery.cli", "serve", "--port", str(app_port)]
    app = subprocess.Popen(cli, env=env, cwd=tmp_path)
    body_temp = tmp_path / "client_body_temp"
    body_temp.mkdir()
    (tmp_path / "conf.d").mkdir()
    shutil.copy(CONF, tmp_path / "conf.d" / "docquery.conf")
    (tmp_path / "nginx.conf").write_text(
        f"""
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {body_temp};
    proxy_temp_path {tmp_path}/proxy_temp;
    # As Beanstalk's nginx.conf on AL2023: the app's conf.d files, then the proxy server.
    include {tmp_path}/conf.d/*.conf;
    upstream docker {{ server 127.0.0.1:{app_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://docker;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""
    )
    proxy = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{app_port}/healthz")
        wait_for(f"http://127.0.0.1:{proxy_port}/healthz")
        yield f"http://127.0.0.1:{proxy_port}", tmp_path
    finally:
        for process in (proxy, app):
            process.terminate()
            process.wait(timeout=30)


def test_a_40_mb_upload_streams_through_nginx(app_behind_nginx: tuple[str, Path]) -> None:
    url, folder = app_behind_nginx
    size = 40 * 1024 * 1024
    pdf = b"%PDF-1.7\n" + b"%" * (size - 9)
    response = httpx.post(
        f"{url}/v1/documents",
        headers={"X-API-Key": ALICE_KEY},
        files={"file": ("big.pdf", pdf, "application/pdf")},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    # Streamed through: nginx never spooled the body to a temporary file.
    assert list((folder / "client_body_temp").rglob("*")) == []
    assert "buffered to a temporary file" not in (folder / "error.log").read_text()


def test_over_the_limit_is_refused_by_the_app_not_buffered(
    app_behind_nginx: tuple[str, Path],
) -> None:
    url, folder = app_behind_nginx
    limit = int(Settings(_env_file=None, max_file_size="50MB").max_file_size)  # type: ignore[call-arg]
    pdf = b"%PDF-1.7\n" + b"%" * (limit + 1 - 9)
    response = httpx.post(
        f"{url}/v1/documents",
        headers={"X-API-Key": ALICE_KEY},
        files={"file": ("big.pdf", pdf, "application/pdf")},
        timeout=120,
    )
    # The app's own answer (problem+json), not nginx's HTML 413.
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert list((folder / "client_body_temp").rglob("*")) == []
