"""Fixtures of the AWS adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.fake_bedrock import FakeBedrock


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    """A fake Bedrock runtime of the test's own."""
    with FakeBedrock() as server:
        yield server
