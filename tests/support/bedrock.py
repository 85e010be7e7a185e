"""The Bedrock adapter on a real aioboto3 client, pointed at the fake Bedrock runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3

from docquery.adapters.aws.bedrock import BedrockLanguageModel, bedrock_client_config
from docquery.settings import Settings
from support.fake_bedrock import FakeBedrock

MODEL_ID = "us.anthropic.claude-sonnet-4-6"


class Sleeps(list[float]):
    """A sleep that records how long it was asked to wait, and does not wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@asynccontextmanager
async def bedrock(
    fake: FakeBedrock, *, attempts: int = 2, read_timeout: float = 10.0, **model_args: Any
) -> AsyncIterator[tuple[BedrockLanguageModel, Sleeps]]:
    """The adapter on a client opened as the wiring opens it (standard retries, timeouts)."""
    settings = Settings(
        _env_file=None, aws_max_attempts=attempts, bedrock_timeout_seconds=read_timeout
    )
    sleeps = Sleeps()
    options: dict[str, Any] = {
        "model_id": MODEL_ID,
        "max_input_tokens": 40_000,
        "max_output_tokens": 1_000,
        "concurrency": 2,
        "max_attempts": 3,
        "sleep": sleeps,
    }
    async with aioboto3.Session().client(
        "bedrock-runtime",
        endpoint_url=fake.endpoint_url,
        region_name="us-east-1",
        config=bedrock_client_config(settings),
    ) as client:
        yield BedrockLanguageModel(client, **(options | model_args)), sleeps
