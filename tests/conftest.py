"""Fixtures: the app on both profiles (embedded on a temp dir, aws on a moto server)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from docquery.app import create_app
from docquery.logs import JsonFormatter
from docquery.wiring import open_services
from support import forbidden  # noqa: F401 - installs the guard on tests' reads
from support.harness import Harness, HarnessFactory
from support.moto import MotoServer
from support.settings import ALICE_KEY, BOB_KEY, aws_settings, embedded_settings

READY_WAIT_POLLS = 600  # 30 s and more


@pytest.fixture(scope="session", autouse=True)
def offline_aws_env() -> Iterator[None]:
    """Dummy credentials, no instance metadata, no real endpoint: nothing leaves 127.0.0.1."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AWS_", "DOCQUERY_")) or name in ("S3_BUCKET", "DYNAMODB_TABLE"):
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(offline_aws_env: None) -> Iterator[str]:
    server = MotoServer()
    endpoint = server.start()
    yield endpoint
    server.stop()


@pytest.fixture(params=["embedded", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_harness(profile: str, tmp_path: Path, request: pytest.FixtureRequest) -> HarnessFactory:
    """Build the app on the test's profile with optional settings overrides."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[Harness]:
        if profile == "aws":
            # The task's local disk (the search index's file) is the test's own, as on Fargate.
            settings = await aws_settings(
                request.getfixturevalue("moto_endpoint"),
                **({"data_dir": tmp_path / "data"} | overrides),
            )
        else:
            settings = embedded_settings(tmp_path / "data", **overrides)
        async with AsyncExitStack() as stack:
            app = create_app(settings)
            manager = await stack.enter_async_context(LifespanManager(app))
            clients = [
                await stack.enter_async_context(_client(manager.app, key))
                for key in (ALICE_KEY, BOB_KEY, None)
            ]
            stores = await stack.enter_async_context(open_services(settings))
            if profile == "aws":
                # A task takes traffic once /readyz says its search index copy is built, as the
                # load balancer sees it; the build runs in the background after start.
                await _wait_ready(clients[-1])
            yield Harness(settings, *clients, stores=stores, app=app)

    return build


@pytest.fixture
async def harness(make_harness: HarnessFactory) -> AsyncIterator[Harness]:
    async with make_harness() as built:
        yield built


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(READY_WAIT_POLLS):
        response = await client.get("/readyz")
        if response.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not ready after {READY_WAIT_POLLS} polls: {response.text}")


def _client(app: Any, key: str | None) -> httpx.AsyncClient:
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://docquery.test",
        headers=headers,
        timeout=30,
    )


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged during the test, formatted exactly as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)
