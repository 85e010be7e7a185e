"""Reference ASGI apps for bench/upload.py; not part of docquery.

Served by the benchmark with uvicorn, one process each:

    python -m uvicorn _baseline_app:raw_app --app-dir bench --host 127.0.0.1 --port 8001
    python -m uvicorn _baseline_app:uploadfile_app --app-dir bench --host 127.0.0.1 --port 8002

`raw_app` (scenario a) reads the request stream and only hashes it: no multipart parsing and
no storage, so it is the ceiling for one request through uvicorn on this machine.

`uploadfile_app` (scenario d) is the usual FastAPI way: an `UploadFile` parameter, which
spools the whole file to a temporary file before the handler runs, then aioboto3's
`upload_fileobj` to S3 (the moto server given by AWS_ENDPOINT_URL, bucket BENCH_S3_BUCKET).
It uses docquery's part size and concurrency (8 MiB, 2 in flight), the same encryption
argument and the same client configuration, and hashes the bytes as it uploads them, so it
does the same work as docquery's aws path except the DynamoDB record.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from boto3.s3.transfer import TransferConfig
from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse

PART_SIZE = 8 * 1024 * 1024  # docquery's S3_PART_SIZE default
CONCURRENCY = 2  # docquery's S3_UPLOAD_CONCURRENCY default
# aioboto3 queues parts read ahead of the uploads: its default (100 parts) would let the
# reader, which is faster than S3, hold up to the whole file in memory. One queued part
# keeps the baseline's memory bounded like docquery's (2 in flight + 1 queued + 1 filling).
IO_QUEUE_PARTS = 1

raw_app = FastAPI(title="bench: raw stream")


@raw_app.get("/healthz")
async def raw_health() -> dict[str, str]:
    return {"status": "ok"}


@raw_app.post("/v1/documents", status_code=201)
async def raw_upload(request: Request) -> dict[str, Any]:
    """Hash the body as it arrives; the multipart framing is hashed too, not parsed."""
    hasher = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        hasher.update(chunk)
        size += len(chunk)
    return {"size": size, "sha256": hasher.hexdigest()}


@asynccontextmanager
async def _s3_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    import aioboto3
    from aiobotocore.config import AioConfig

    config = AioConfig(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
        signature_version="s3v4",
        s3={"addressing_style": "path"},
    )
    session = aioboto3.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    async with session.client("s3", config=config, endpoint_url=endpoint) as s3:
        yield {"s3": s3, "bucket": os.environ["BENCH_S3_BUCKET"]}


uploadfile_app = FastAPI(title="bench: UploadFile then upload_fileobj", lifespan=_s3_lifespan)


@uploadfile_app.get("/healthz")
async def uploadfile_health() -> dict[str, str]:
    return {"status": "ok"}


@uploadfile_app.post("/v1/documents", status_code=201)
async def uploadfile_upload(request: Request, file: UploadFile) -> JSONResponse:
    """By the time this runs, the whole file is in a SpooledTemporaryFile on disk."""
    if not (await file.read(5)).startswith(b"%PDF-"):
        raise HTTPException(status_code=422, detail="not a PDF")
    await file.seek(0)
    hasher = hashlib.sha256()

    def hash_part(part: bytes) -> bytes:
        hasher.update(part)
        return part

    key = f"bench/{uuid.uuid4().hex}/original.pdf"
    await request.state.s3.upload_fileobj(
        file,
        request.state.bucket,
        key,
        ExtraArgs={"ContentType": "application/pdf", "ServerSideEncryption": "AES256"},
        Config=TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=CONCURRENCY,
            max_io_queue=IO_QUEUE_PARTS,
        ),
        Processing=hash_part,
    )
    body = {"size": file.size, "sha256": hasher.hexdigest(), "key": key}
    return JSONResponse(body, status_code=201)
