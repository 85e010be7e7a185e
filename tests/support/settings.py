"""Settings for tests: the embedded profile on a temp dir, the aws profile on moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docquery.adapters.aws.provision import ensure_bucket, ensure_table
from docquery.services.auth import digest_key
from docquery.settings import Settings
from docquery.wiring import open_aws_clients
from support.moto import unique_name

ALICE_KEY = "dq_test-key-for-alice-0123456789"
BOB_KEY = "dq_test-key-for-bob-9876543210"
API_KEYS = {"alice": digest_key(ALICE_KEY), "bob": digest_key(BOB_KEY)}
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# The smallest part S3 accepts: keeps multipart tests small.
PART_SIZE = 5 * 1024 * 1024


def embedded_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "profile": "embedded",
        "data_dir": data_dir,
        "auth": "api_key",
        "api_keys": API_KEYS,
        # API tests look at documents as uploaded; pipeline tests turn processing on.
        "pipeline_enabled": False,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


async def aws_settings(endpoint: str, **overrides: Any) -> Settings:
    """Settings for a fresh bucket and table on the moto server, created as `docquery init` does."""
    values: dict[str, Any] = {
        "profile": "aws",
        "auth": "api_key",
        "api_keys": API_KEYS,
        "secret_key": TEST_SECRET,
        "aws_endpoint_url": endpoint,
        "aws_region": "us-east-1",
        "s3_bucket": unique_name("docquery-test"),
        "dynamodb_table": unique_name("documents"),
        "aws_max_attempts": 2,
        "pipeline_enabled": False,
        "search_poll_seconds": 0.2,
    }
    settings = Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]
    async with open_aws_clients(settings) as clients:
        await ensure_bucket(
            clients.s3, bucket=settings.s3_bucket, region="us-east-1", kms_key_id=None
        )
        await ensure_table(clients.dynamodb, table=settings.dynamodb_table)
    return settings
