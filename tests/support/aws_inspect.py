"""Look into the moto bucket behind an aws-profile test."""

from __future__ import annotations

from docquery.settings import Settings
from docquery.wiring import open_aws_clients


async def list_keys(settings: Settings) -> list[str]:
    async with open_aws_clients(settings) as clients:
        response = await clients.s3.list_objects_v2(Bucket=settings.s3_bucket)
        return sorted(item["Key"] for item in response.get("Contents", []))


async def count_multipart_uploads(settings: Settings) -> int:
    async with open_aws_clients(settings) as clients:
        response = await clients.s3.list_multipart_uploads(Bucket=settings.s3_bucket)
        return len(response.get("Uploads", []))
