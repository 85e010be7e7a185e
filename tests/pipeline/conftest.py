"""The app with its pipeline running: local model on embedded, Bedrock (fake) on aws."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from support.fake_bedrock import FakeBedrock
from support.harness import Harness, HarnessFactory


@pytest.fixture(scope="session")
def fake_bedrock_server() -> Iterator[FakeBedrock]:
    server = FakeBedrock()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_bedrock(fake_bedrock_server: FakeBedrock) -> Iterator[FakeBedrock]:
    fake_bedrock_server.reset()
    yield fake_bedrock_server
    fake_bedrock_server.reset()


@pytest.fixture
def make_pipeline_harness(
    make_harness: HarnessFactory, profile: str, request: pytest.FixtureRequest
) -> HarnessFactory:
    """The harness with processing on; on aws the summaries come from the fake Bedrock."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[Harness]:
        settings: dict[str, Any] = {
            "pipeline_enabled": True,
            "job_lease_seconds": 6,
            "sweep_interval_seconds": 0.5,
        }
        if profile == "aws":
            fake: FakeBedrock = request.getfixturevalue("fake_bedrock")
            settings |= {"bedrock_endpoint_url": fake.endpoint_url}
        async with make_harness(**(settings | overrides)) as harness:
            yield harness

    return build


@pytest.fixture
async def pipeline_harness(make_pipeline_harness: HarnessFactory) -> AsyncIterator[Harness]:
    async with make_pipeline_harness() as harness:
        yield harness
