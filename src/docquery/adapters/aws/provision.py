"""Create the bucket and table idempotently (`docquery init`)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from docquery.adapters.aws.dynamodb_items import TTL_ATTRIBUTE
from docquery.adapters.aws.table import table_definition

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)


async def ensure_bucket(
    client: S3Client, *, bucket: str, region: str, kms_key_id: str | None
) -> bool:
    """Create the bucket private, encrypted by default, and cleaning up abandoned uploads."""
    created = False
    try:
        await client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        if region == "us-east-1":
            await client.create_bucket(Bucket=bucket)
        else:
            await client.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
        created = True
    await client.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    rule: dict[str, Any] = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
        if kms_key_id
        else {"SSEAlgorithm": "AES256"}
    )
    encryption: Any = {"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]}
    await client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=encryption)
    await client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-incomplete-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    return created


async def ensure_table(client: DynamoDBClient, *, table: str) -> bool:
    """Create the table from its definition unless it exists, add the indexes an older table
    lacks, turn on TTL (the change feed expires), and wait until it is active."""
    definition = table_definition(table)
    waiter = client.get_waiter("table_exists")
    try:
        await client.create_table(**definition)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        created = False
        await _add_missing_indexes(client, definition)
    else:
        created = True
    await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    await _enable_ttl(client, table)
    return created


async def _add_missing_indexes(client: DynamoDBClient, definition: dict[str, Any]) -> None:
    """Create the GSIs the definition has and the table does not (one per UpdateTable call, as
    DynamoDB requires). Existing items are backfilled by DynamoDB in the background."""
    table = definition["TableName"]
    described = (await client.describe_table(TableName=table))["Table"]
    have = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in definition["GlobalSecondaryIndexes"]:
        if index["IndexName"] in have:
            continue
        names = {key["AttributeName"] for key in index["KeySchema"]}
        await client.update_table(
            TableName=table,
            AttributeDefinitions=[
                a for a in definition["AttributeDefinitions"] if a["AttributeName"] in names
            ],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        log.info("provision.index_added", extra={"check": index["IndexName"]})
        await _wait_for_index(client, table, index["IndexName"])


async def _wait_for_index(client: DynamoDBClient, table: str, name: str) -> None:
    for _ in range(600):
        described = (await client.describe_table(TableName=table))["Table"]
        statuses = {
            index["IndexName"]: index.get("IndexStatus")
            for index in described.get("GlobalSecondaryIndexes", [])
        }
        if statuses.get(name) == "ACTIVE":
            return
        await asyncio.sleep(2)
    raise TimeoutError(f"index {name} did not become active")


async def _enable_ttl(client: DynamoDBClient, table: str) -> None:
    current = await client.describe_time_to_live(TableName=table)
    if current.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    await client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
