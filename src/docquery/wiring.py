"""The one place that opens long-lived clients and builds the adapters (app, CLI and tests)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
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
from docquery.pipeline.processing import Ocr
from docquery.pipeline.worker import Pipeline
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.language_model import LanguageModel
from docquery.ports.search import SearchIndex
from docquery.services.auth import ApiKeyAuthenticator, NoAuthenticator
from docquery.services.cursors import CursorCodec
from docquery.settings import (
    PIPELINE_STOP_SECONDS,
    AuthMode,
    LanguageModelChoice,
    OcrEngine,
    Profile,
    Settings,
)

# AwsClients and open_aws_clients are also this module's: tests open the clients
# the way the service does (and fault tests wrap open_aws_clients here).
from docquery.wiring_aws import AwsClients as AwsClients
from docquery.wiring_aws import aws_stores, direct_uploads, guarded
from docquery.wiring_aws import open_aws_clients as open_aws_clients

if TYPE_CHECKING:
    from docquery.adapters.local.search import TantivySearchIndex
    from docquery.services.presigned_uploads import DirectUploadPorts


class Authenticator(Protocol):
    def authenticate(self, key: str | None) -> Principal | None: ...


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    blobs: BlobStore
    documents: DocumentStore
    search_index: SearchIndex
    authenticator: Authenticator
    cursors: CursorCodec
    upload_policy: UploadPolicy
    language_model: LanguageModel | None = None
    pipeline: Pipeline | None = None
    # Presigned POSTs straight to the bucket (the aws profile only).
    direct_uploads: DirectUploadPorts | None = None

    def notify_pipeline(self) -> None:
        """Tell this replica's pipeline that work is due (no-op where it does not run)."""
        if self.pipeline is not None:
            self.pipeline.notify()


@asynccontextmanager
async def open_services(
    settings: Settings, *, pipeline: bool = False, search_copy: bool = True
) -> AsyncIterator[Services]:
    """Open every client and store for the active profile; close them all on exit.

    With `pipeline`, this process also runs the processing pipeline (the server does when
    PIPELINE_ENABLED is set; commands and inspecting tests do not). Without `search_copy`, an
    aws process only publishes its index changes and never builds or follows a searchable copy
    (the Lambda processing function: it answers no searches).
    """
    async with AsyncExitStack() as stack:
        ocr: Ocr | None = None
        direct: DirectUploadPorts | None = None
        policy = UploadPolicy(
            max_file_size=int(settings.max_file_size),
            allowed_extensions=tuple(settings.allowed_extensions),
        )
        session = _aws_session(settings)
        if settings.profile is Profile.AWS:
            clients = guarded(await stack.enter_async_context(open_aws_clients(settings, session)))
            blobs, documents = aws_stores(settings, clients, stack)
            direct = direct_uploads(settings, clients, blobs, documents, policy)
            ocr = _ocr(settings, clients)
            index = await _replicated_search_index(
                settings, stack, clients, blobs, documents, follow=search_copy
            )
        else:
            blobs, documents = await _embedded_stores(settings, stack)
            index = await _search_index(settings.data_dir / "search", stack)
            await _reconcile_search_index(settings, index, blobs, documents)
        model = await _language_model(settings, stack, session)
        runner = (
            await _start_pipeline(settings, stack, blobs, documents, index, model, ocr)
            if pipeline
            else None
        )
        yield Services(
            settings=settings,
            blobs=blobs,
            documents=documents,
            search_index=index,
            authenticator=(
                ApiKeyAuthenticator(settings.api_keys)
                if settings.auth is AuthMode.API_KEY
                else NoAuthenticator()
            ),
            cursors=CursorCodec(_secret(settings)),
            upload_policy=policy,
            language_model=model,
            pipeline=runner,
            direct_uploads=direct,
        )


def _aws_session(settings: Settings) -> Any:
    """The process's one aioboto3 Session, if anything here talks to AWS."""
    if (
        settings.profile is not Profile.AWS
        and settings.effective_language_model is not LanguageModelChoice.BEDROCK
    ):
        return None
    import aioboto3

    return aioboto3.Session(region_name=settings.aws_region)


async def _language_model(
    settings: Settings, stack: AsyncExitStack, session: Any
) -> LanguageModel | None:
    choice = settings.effective_language_model
    if choice is LanguageModelChoice.DISABLED:
        return None
    if choice is LanguageModelChoice.LOCAL:
        from docquery.adapters.local.summariser import LocalLanguageModel

        return LocalLanguageModel()
    from docquery.adapters.aws.bedrock import bedrock_client_config, bedrock_language_model

    client = await stack.enter_async_context(
        session.client(
            "bedrock-runtime",
            config=bedrock_client_config(settings),
            endpoint_url=settings.bedrock_endpoint_url or settings.aws_endpoint_url,
        )
    )
    return bedrock_language_model(client, settings)


def _ocr(settings: Settings, clients: AwsClients) -> Ocr | None:
    # OCR_ENGINE=tesseract or off: the workers OCR or nothing does; Textract stays unused.
    if clients.textract is None or settings.effective_ocr_engine is not OcrEngine.TEXTRACT:
        return None
    from docquery.adapters.aws.textract import TextractOcr

    return TextractOcr(clients.textract, bucket=settings.s3_bucket)


async def _start_pipeline(
    settings: Settings,
    stack: AsyncExitStack,
    blobs: BlobStore,
    documents: DocumentStore,
    index: SearchIndex,
    model: LanguageModel | None,
    ocr: Ocr | None,
) -> Pipeline:
    from docquery.pipeline.extraction import ExtractionLimits, PdfExtractor
    from docquery.pipeline.processing import Processor, clear_temp_files
    from docquery.pipeline.worker import WorkerSettings

    temp_dir = settings.data_dir / "tmp"
    clear_temp_files(temp_dir)
    extractor = await stack.enter_async_context(
        PdfExtractor(
            workers=settings.extract_workers, limits=ExtractionLimits.from_settings(settings)
        )
    )
    processor = Processor(
        documents=documents,
        blobs=blobs,
        extractor=extractor,
        index=index,
        model=model,
        temp_dir=temp_dir,
        max_attempts=settings.job_max_attempts,
        max_pages=settings.max_pages,
        max_chars=settings.max_extracted_chars,
        ocr=ocr,
    )
    runner = Pipeline(
        documents=documents,
        processor=processor,
        settings=WorkerSettings(
            concurrency=settings.pipeline_concurrency,
            lease_seconds=settings.job_lease_seconds,
            sweep_interval_seconds=settings.sweep_interval_seconds,
        ),
    )
    await runner.start()
    # Leaving the stack stops claiming and hands unfinished documents back.
    stack.push_async_callback(lambda: runner.stop(grace_seconds=PIPELINE_STOP_SECONDS))
    return runner


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


async def _search_index(root: Path, stack: AsyncExitStack) -> TantivySearchIndex:
    """The Tantivy index (one per owner, under `root`)."""
    from docquery.adapters.local.search import TantivySearchIndex

    index = TantivySearchIndex(root)
    await index.open()
    stack.push_async_callback(index.close)
    return index


async def _reconcile_search_index(
    settings: Settings, index: SearchIndex, blobs: BlobStore, documents: DocumentStore
) -> None:
    """What a crash between commits (or a lost index) left out, from the records and pages."""
    from docquery.domain.principals import LOCAL_OWNER
    from docquery.services.reindex import reconcile

    owners = list(settings.api_keys) if settings.auth is AuthMode.API_KEY else [LOCAL_OWNER]
    await reconcile(index, documents, blobs, owners=owners)


async def _replicated_search_index(
    settings: Settings,
    stack: AsyncExitStack,
    clients: AwsClients,
    blobs: BlobStore,
    documents: DocumentStore,
    *,
    follow: bool = True,
) -> SearchIndex:
    """This task's copy of the index, on its own disk, built from the records at start and then
    kept in step with the other tasks' through the table's change feed."""
    from docquery.adapters.aws.search_feed import ReplicatedSearchIndex

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="search-", dir=settings.data_dir))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    local = await _search_index(folder, stack)
    index = ReplicatedSearchIndex(
        local,
        clients.dynamodb,
        table=settings.dynamodb_table,
        documents=documents,
        blobs=blobs,
        owners=settings.api_keys.keys(),
        poll_seconds=settings.search_poll_seconds,
    )
    if follow:
        await index.start()
        stack.push_async_callback(index.stop)
    return index


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
