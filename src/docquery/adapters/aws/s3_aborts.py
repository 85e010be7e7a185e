"""Aborting multipart uploads, and trying again in the background while S3 does not answer."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from docquery.errors import DocQueryError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

# The request that failed waits this long for its abort, at most; then the abort goes on in the
# background, so an upload on a stalled S3 still answers within a few seconds.
INLINE_SECONDS = 1.0
# Doubling delays (each jittered down to half) between tries: about two minutes in all. After
# that the bucket's lifecycle rule (AbortIncompleteMultipartUpload after a day, set by
# `docquery init`) is the backstop.
DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)


class MultipartAborts:
    """Aborts multipart uploads; one that fails is tried again in the background."""

    def __init__(
        self, client: S3Client, *, bucket: str, delays: tuple[float, ...] = DELAYS
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._delays = delays
        self._retrying: set[asyncio.Task[None]] = set()

    async def abort(self, key: str, upload_id: str) -> None:
        """Abort now if S3 answers; otherwise keep trying in the background."""
        try:
            async with asyncio.timeout(INLINE_SECONDS):
                done = await self._try(key, upload_id)
        except TimeoutError:
            done = False
        if done:
            return
        log.warning("s3.abort_failed", extra={"blob_key": key})
        task = asyncio.create_task(self._retry(key, upload_id), name="s3-abort")
        self._retrying.add(task)
        task.add_done_callback(self._retrying.discard)

    async def close(self) -> None:
        """Stop retrying; what is still open is left to the lifecycle rule."""
        if self._retrying:
            log.warning("s3.abort_abandoned", extra={"count": len(self._retrying)})
        for task in self._retrying:
            task.cancel()
        await asyncio.gather(*self._retrying, return_exceptions=True)

    async def _retry(self, key: str, upload_id: str) -> None:
        for attempt, delay in enumerate(self._delays, start=2):
            # Jitter spreads the retries of many uploads; it needs no cryptographic quality.
            await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311
            if await self._try(key, upload_id):
                log.info("s3.abort_retried", extra={"blob_key": key, "attempt": attempt})
                return
        log.warning("s3.abort_abandoned", extra={"blob_key": key, "count": 1})

    async def _try(self, key: str, upload_id: str) -> bool:
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
        except ClientError as exc:
            # Gone already: an earlier try reached S3 although its answer did not reach us.
            return exc.response.get("Error", {}).get("Code") == "NoSuchUpload"
        except DocQueryError:  # StoreUnavailable from the guarded client
            return False
        return True
