"""The one place that opens long-lived clients and builds the adapters (app, CLI and tests)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from docquery.adapters.local.blobs import LocalBlobStore
from docquery.adapters.local.documents import SqliteDocumentStore
from docquery.adapters.local.sqlite import Database
from docquery.domain.principals import Principal
from docquery.domain.uploads import UploadPolicy
from docquery.ports import BlobStore, DocumentStore
from docquery.services.auth import ApiKeyAuthenticator, NoAuthenticator
from docquery.services.cursors import CursorCodec
from docquery.settings import AuthMode, Profile, Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client


class Authenticator(Protocol):
    def authenticate(self, key: str | None) -> Principal | None: ...


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    blobs: BlobStore
    documents: DocumentStore
    authenticator: Authenticator
    cursors: CursorCodec
    upload_policy: UploadPolicy


@dataclass(frozen=True, slots=True)
class AwsClients:
    s3: S3Client
    dynamodb: DynamoDBClient


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open every client and store for the active profile; close them all on exit."""
    async with AsyncExitStack() as stack:
        if settings.profile is Profile.AWS:
            clients = await stack.enter_async_context(open_aws_clients(settings))
            blobs, documents = _aws_stores(settings, clients)
        else:
            blobs, documents = await _embedded_stores(settings, stack)
        yield Services(
            settings=settings,
            blobs=blobs,
            documents=documents,
            authenticator=(
                ApiKeyAuthenticator(settings.api_keys)
                if settings.auth is AuthMode.API_KEY
                else NoAuthenticator()
            ),
            cursors=CursorCodec(_secret(settings)),
            upload_policy=UploadPolicy(
                max_file_size=int(settings.max_file_size),
                allowed_extensions=tuple(settings.allowed_extensions),
            ),
        )


@asynccontextmanager
async def open_aws_clients(settings: Settings) -> AsyncIterator[AwsClients]:
    """One aioboto3 session; the S3 and DynamoDB clients opened once."""
    import aioboto3
    from aiobotocore.config import AioConfig

    session = aioboto3.Session(region_name=settings.aws_region)
    common: dict[str, Any] = {
        # total_max_attempts counts the first try; botocore's max_attempts would add one.
        "retries": {"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        "connect_timeout": 5,
        "read_timeout": 60,
        "max_pool_connections": 32,
    }
    s3_config = AioConfig(
        **common,
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
    )
    async with AsyncExitStack() as stack:
        s3 = await stack.enter_async_context(
            session.client("s3", config=s3_config, endpoint_url=settings.aws_endpoint_url)
        )
        dynamodb = await stack.enter_async_context(
            session.client(
                "dynamodb", config=AioConfig(**common), endpoint_url=settings.aws_endpoint_url
            )
        )
        yield AwsClients(s3=s3, dynamodb=dynamodb)


def _aws_stores(settings: Settings, clients: AwsClients) -> tuple[BlobStore, DocumentStore]:
    from docquery.adapters.aws.dynamodb import DynamoDbDocumentStore
    from docquery.adapters.aws.s3 import S3BlobStore

    blobs = S3BlobStore(
        clients.s3,
        bucket=settings.s3_bucket,
        part_size=int(settings.s3_part_size),
        concurrency=settings.s3_upload_concurrency,
        kms_key_id=settings.s3_kms_key_id,
    )
    return blobs, DynamoDbDocumentStore(clients.dynamodb, table=settings.dynamodb_table)


async def _embedded_stores(
    settings: Settings, stack: AsyncExitStack
) -> tuple[BlobStore, DocumentStore]:
    root = settings.data_dir
    blobs = LocalBlobStore(root)
    blobs.prepare()
    database = Database(root / "docquery.sqlite3")
    await database.open()
    stack.push_async_callback(database.close)
    return blobs, SqliteDocumentStore(database)


def _secret(settings: Settings) -> bytes:
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    # Embedded only (the aws profile refuses to start without one): made once, kept on disk,
    # so cursors stay valid across restarts.
    return _local_secret(settings.data_dir / "secret_key")


def _local_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()
