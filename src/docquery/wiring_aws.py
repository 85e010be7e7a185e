"""The aws profile's part of the wiring: the AWS clients, opened once, and the adapters on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from docquery.domain.uploads import UploadPolicy
from docquery.ports import BlobStore, DocumentStore
from docquery.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client

    from docquery.services.presigned_uploads import DirectUploadPorts


@dataclass(frozen=True, slots=True)
class AwsClients:
    s3: S3Client
    dynamodb: DynamoDBClient
    textract: Any | None = None  # opened only with TEXTRACT_ENABLED


@asynccontextmanager
async def open_aws_clients(settings: Settings, session: Any = None) -> AsyncIterator[AwsClients]:
    """One aioboto3 session; the S3 and DynamoDB clients opened once."""
    import aioboto3
    from aiobotocore.config import AioConfig

    from docquery.adapters.aws import outages

    session = session or aioboto3.Session(region_name=settings.aws_region)
    attempts = settings.aws_max_attempts
    # Short timeouts (not Bedrock's long reads): a store that is down is noticed in seconds.
    s3_config = AioConfig(
        **outages.client_config(read_seconds=outages.S3_READ_SECONDS, attempts=attempts),
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
    )
    async with AsyncExitStack() as stack:
        s3 = await stack.enter_async_context(
            session.client("s3", config=s3_config, endpoint_url=settings.aws_endpoint_url)
        )
        dynamodb = await stack.enter_async_context(
            session.client(
                "dynamodb",
                config=AioConfig(
                    **outages.client_config(
                        read_seconds=outages.DYNAMODB_READ_SECONDS, attempts=attempts
                    )
                ),
                endpoint_url=settings.aws_endpoint_url,
            )
        )
        textract = None
        if settings.textract_enabled:
            from docquery.adapters.aws.textract import textract_client_config

            textract = await stack.enter_async_context(
                session.client(
                    "textract",
                    config=textract_client_config(settings),
                    endpoint_url=settings.aws_endpoint_url,
                )
            )
        yield AwsClients(s3=s3, dynamodb=dynamodb, textract=textract)


def guarded(clients: AwsClients) -> AwsClients:
    """The same clients, every call bounded in time and an outage StoreUnavailable."""
    from docquery.adapters.aws.outages import GuardedClient

    return replace(
        clients,
        s3=cast("S3Client", GuardedClient(clients.s3, store="S3")),
        dynamodb=cast("DynamoDBClient", GuardedClient(clients.dynamodb, store="DynamoDB")),
    )


def aws_stores(
    settings: Settings, clients: AwsClients, stack: AsyncExitStack
) -> tuple[BlobStore, DocumentStore]:
    from docquery.adapters.aws.dynamodb import DynamoDbDocumentStore
    from docquery.adapters.aws.s3 import S3BlobStore

    blobs = S3BlobStore(
        clients.s3,
        bucket=settings.s3_bucket,
        part_size=int(settings.s3_part_size),
        concurrency=settings.s3_upload_concurrency,
        kms_key_id=settings.s3_kms_key_id,
    )
    # Before the clients close: aborts still being retried stop first.
    stack.push_async_callback(blobs.close)
    return blobs, DynamoDbDocumentStore(clients.dynamodb, table=settings.dynamodb_table)


def direct_uploads(
    settings: Settings,
    clients: AwsClients,
    blobs: BlobStore,
    documents: DocumentStore,
    policy: UploadPolicy,
) -> DirectUploadPorts:
    from docquery.adapters.aws.dynamodb_uploads import DynamoDbUploadTickets
    from docquery.adapters.aws.s3_direct import S3UploadBucket
    from docquery.services.presigned_uploads import DirectUploadPorts

    return DirectUploadPorts(
        blobs=blobs,
        documents=documents,
        tickets=DynamoDbUploadTickets(clients.dynamodb, table=settings.dynamodb_table),
        bucket=S3UploadBucket(
            clients.s3, bucket=settings.s3_bucket, kms_key_id=settings.s3_kms_key_id
        ),
        policy=policy,
    )
