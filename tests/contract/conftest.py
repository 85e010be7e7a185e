"""Each port's adapters, so one contract suite runs against both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from docquery.ports import BlobStore, DocumentStore
from docquery.wiring import Services, open_services
from support.settings import PART_SIZE, aws_settings, embedded_settings


@pytest.fixture(params=["local", "s3"])
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    async with _services(request, tmp_path, aws=request.param == "s3") as services:
        yield services.blobs


@pytest.fixture(params=["sqlite", "dynamodb"])
async def document_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DocumentStore]:
    async with _services(request, tmp_path, aws=request.param == "dynamodb") as services:
        yield services.documents


@asynccontextmanager
async def _services(
    request: pytest.FixtureRequest, tmp_path: Path, *, aws: bool
) -> AsyncIterator[Services]:
    if aws:
        endpoint = request.getfixturevalue("moto_endpoint")
        settings = await aws_settings(endpoint, s3_part_size=PART_SIZE, data_dir=tmp_path / "data")
    else:
        settings = embedded_settings(tmp_path / "data")
    async with open_services(settings) as services:
        yield services
