"""Create the bucket and table idempotently (`docquery init`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

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
    """Create the table from its definition unless it exists; wait until it is active."""
    try:
        await client.create_table(**table_definition(table))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        return False
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return True
