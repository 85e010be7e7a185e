"""TextractOcr: a scanned PDF read by Amazon Textract's asynchronous document analysis.

AnalyzeDocument with LAYOUT and TABLES gives the same blocks as the text layer's reading
(headings, paragraphs, lists, tables with their header row, furniture); textract_blocks.py
converts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.textract_blocks import pages_from_blocks
from docquery.domain.reading import PageReading
from docquery.errors import OcrFailed

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig

    from docquery.settings import Settings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Textract's verdicts on the document itself: asking again gives the same answer.
_DOCUMENT_FAULTS = frozenset(
    {
        "InvalidS3ObjectException",
        "UnsupportedDocumentException",
        "DocumentTooLargeException",
        "BadDocumentException",
        "InvalidParameterException",
    }
)
# The most blocks one GetDocumentAnalysis answer may hold (Textract's maximum).
_MAX_RESULTS = 1000
# LAYOUT gives headings, paragraphs, lists, key-values and furniture; TABLES gives the cells.
FEATURE_TYPES = ("LAYOUT", "TABLES")


def textract_client_config(settings: Settings) -> AioConfig:
    """Client config: explicit timeouts, botocore's standard retries (throttling included)."""
    from aiobotocore.config import AioConfig

    return AioConfig(
        connect_timeout=5,
        read_timeout=60,
        # total_max_attempts counts the first try; standard mode retries throttling
        # (ProvisionedThroughputExceeded, Throttling), 5xx and timeouts with jittered backoff.
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        max_pool_connections=max(10, 2 * settings.pipeline_concurrency),
    )


class TextractOcr:
    """The reading of every page of a PDF in the documents bucket, by Textract.

    `client` is an aiobotocore `textract` client, typed Any because its stubs
    (types-aiobotocore-textract) are not a dependency. Detected text is patient data and is
    never logged: only the key, page counts, timings and error codes are.
    """

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        poll_interval: float = 2.0,
        timeout: float = 600.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock

    async def read_document(
        self, key: str, *, sizes: Mapping[int, tuple[float, float]] | None = None
    ) -> list[PageReading]:
        """One PageReading per page of the PDF at `key`; `sizes` are page sizes in points."""
        started = self._clock()
        job_id = await self._start(key)
        first = await self._wait(job_id, deadline=started + self._timeout)
        blocks, page_count = await self._read_blocks(job_id, first)
        pages = pages_from_blocks(blocks, page_count=page_count, sizes=sizes)
        log.info(
            "textract.analysed",
            extra={
                "blob_key": key,
                "size": len(pages),
                "duration_ms": round((self._clock() - started) * 1000),
            },
        )
        return pages

    async def _start(self, key: str) -> str:
        response = await _guard(
            self._client.start_document_analysis(
                DocumentLocation={"S3Object": {"Bucket": self._bucket, "Name": key}},
                FeatureTypes=list(FEATURE_TYPES),
                # The same token returns the same job: a retried start (by botocore, or the
                # pipeline after a crash or a timeout) resumes that job instead of paying again.
                ClientRequestToken=request_token(self._bucket, key),
            )
        )
        return str(response["JobId"])

    async def _wait(self, job_id: str, *, deadline: float) -> dict[str, Any]:
        """Poll until the job is over; its first page of results."""
        while True:
            response = await self._results(job_id)
            status = response.get("JobStatus")
            if status in ("SUCCEEDED", "PARTIAL_SUCCESS"):
                if status == "PARTIAL_SUCCESS":
                    _log_warnings(response)
                return response
            if status == "FAILED":
                log.warning("textract.job_failed", extra={"code": status})
                raise OcrFailed("Textract could not read the document (job FAILED)")
            if status != "IN_PROGRESS":
                raise OcrFailed(f"Textract answered an unknown job status {status!r}")
            remaining = deadline - self._clock()
            if remaining <= 0:
                log.warning("textract.job_timeout", extra={"code": status})
                raise OcrFailed(
                    f"Textract did not finish within {self._timeout:g} s", transient=True
                )
            await self._sleep(min(self._poll_interval, remaining))

    async def _read_blocks(
        self, job_id: str, response: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int]:
        """Every block of the job, answer after answer (NextToken); the page count."""
        # All answers are gathered before converting: a relationship may name a block that
        # a later answer holds.
        blocks: list[dict[str, Any]] = []
        page_count = 0
        while True:
            pages = response.get("DocumentMetadata", {}).get("Pages")
            if isinstance(pages, int):
                page_count = max(page_count, pages)
            blocks.extend(response.get("Blocks", ()))
            token = response.get("NextToken")
            if not token:
                return blocks, page_count
            response = await self._results(job_id, NextToken=token)

    async def _results(self, job_id: str, **page: str) -> dict[str, Any]:
        result: dict[str, Any] = await _guard(
            self._client.get_document_analysis(JobId=job_id, MaxResults=_MAX_RESULTS, **page)
        )
        return result


def request_token(bucket: str, key: str) -> str:
    """Textract's idempotency token for one object: 64 hex characters (its maximum)."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()


async def _guard(call: Awaitable[Any]) -> Any:
    """The call's answer; SDK errors become OcrFailed."""
    try:
        return await call
    except ClientError as exc:
        # botocore's standard mode has already retried throttling and 5xx answers.
        code = str(exc.response.get("Error", {}).get("Code", "")) or "an error"
        log.warning("textract.call_failed", extra={"code": code})
        if code in _DOCUMENT_FAULTS:
            raise OcrFailed(f"Textract refused the document ({code})") from exc
        raise OcrFailed(f"Textract answered {code}", transient=True) from exc
    except BotoCoreError as exc:
        log.warning("textract.call_failed", extra={"code": type(exc).__name__})
        raise OcrFailed(f"Textract call failed ({type(exc).__name__})", transient=True) from exc


def _log_warnings(response: dict[str, Any]) -> None:
    warnings = response.get("Warnings", ())
    log.warning(
        "textract.partial_success",
        extra={
            "code": warnings[0].get("ErrorCode") if warnings else None,
            "size": sum(len(warning.get("Pages", ())) for warning in warnings),
        },
    )
