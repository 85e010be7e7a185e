"""TextractOcr through the real aioboto3 client, against the moto server.

moto's Textract backend runs in this process (the server is a ThreadedMotoServer), so a test
scripts a job through the backend's class attributes, read when a job starts: BLOCKS,
PAGES (moto's default is a dict, not the page count Textract sends: always set it) and
JOB_STATUS. moto ignores NextToken and MaxResults; the paging test serves pages itself.
Waiting is on a fake clock: `sleep` advances it instead of sleeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aioboto3
import pytest
from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError
from moto.textract.models import TextractBackend, textract_backends
from moto.textract.responses import TextractResponse

from docquery.adapters.aws.textract import (
    TextractOcr,
    request_token,
    textract_client_config,
)
from docquery.domain.processing import Page
from docquery.domain.reading import BlockKind, PageReading, PageSource
from docquery.errors import OcrFailed
from docquery.settings import Settings
from support.textract_analysis import Analysis

pytestmark = pytest.mark.aws

BUCKET = "docquery-documents"
KEY = "documents/0b7f3c2e/original.pdf"
ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account


@dataclass
class Calls:
    """Every Textract call the client made: (operation, parameters)."""

    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.items.append((model.name, dict(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.items if name == operation]


@dataclass
class FakeTime:
    """A clock that only `sleep` moves; `on_sleep` runs after each sleep."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[], None] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set what the next Textract jobs return; restored after the test."""

    def configure(*, blocks: list[dict[str, Any]], pages: int, status: str = "SUCCEEDED") -> None:
        monkeypatch.setattr(TextractBackend, "BLOCKS", blocks)
        monkeypatch.setattr(TextractBackend, "PAGES", pages)
        monkeypatch.setattr(TextractBackend, "JOB_STATUS", status)

    return configure


@pytest.fixture
async def client(moto_endpoint: str) -> AsyncIterator[tuple[Any, Calls]]:
    """A textract client configured as the wiring configures it, and what it sends."""
    settings = Settings(_env_file=None, aws_max_attempts=2)
    calls = Calls()
    async with aioboto3.Session().client(
        "textract",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        config=textract_client_config(settings),
    ) as textract:
        textract.meta.events.register("provide-client-params.textract", calls.record)
        yield textract, calls


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def ocr(client: tuple[Any, Calls], fake_time: FakeTime, **options: Any) -> TextractOcr:
    return TextractOcr(
        client[0], bucket=BUCKET, sleep=fake_time.sleep, clock=fake_time.clock, **options
    )


def line(page: int, text: str) -> dict[str, Any]:
    return {"BlockType": "LINE", "Page": page, "Text": text, "Id": f"{page}-{text}"}


def word(page: int, text: str) -> dict[str, Any]:
    return {"BlockType": "WORD", "Page": page, "Text": text, "Id": f"w{page}-{text}"}


def page_block(page: int) -> dict[str, Any]:
    return {"BlockType": "PAGE", "Page": page, "Id": f"p{page}"}


def texts(readings: list[PageReading]) -> list[Page]:
    """Each page's text: the lines Textract read, in reading order."""
    return [Page(page.number, page.text) for page in readings]


def job(job_id: str) -> Any:
    return textract_backends[ACCOUNT][REGION].async_document_analysis_jobs[job_id]


async def test_lines_are_grouped_by_page_in_textract_order(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(
        pages=4,
        blocks=[
            page_block(1),
            line(1, "Discharge summary"),
            line(1, "Potassium 3.4 mmol/L"),
            page_block(2),
            page_block(3),
            line(3, "Follow up in 2 weeks"),
            page_block(4),
            word(1, "Discharge"),  # words repeat the lines: never counted twice
            word(4, "stray"),
        ],
    )

    pages = texts(await ocr(client, fake_time).read_document(KEY))

    assert pages == [
        Page(1, "Discharge summary\nPotassium 3.4 mmol/L"),
        Page(2, ""),
        Page(3, "Follow up in 2 weeks"),
        Page(4, ""),
    ]
    _, calls = client
    [start] = calls.of("StartDocumentAnalysis")
    assert start["DocumentLocation"] == {"S3Object": {"Bucket": BUCKET, "Name": KEY}}
    assert start["ClientRequestToken"] == request_token(BUCKET, KEY)
    assert start["FeatureTypes"] == ["LAYOUT", "TABLES"]
    assert fake_time.sleeps == []  # the job was over at the first look


async def test_read_document_gives_the_blocks_of_layout_and_tables(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    doc = Analysis()
    page = doc.page(1)
    doc.text(page, "LAYOUT_TITLE", "Discharge summary", (0.1, 0.05, 0.5, 0.04))
    doc.table(page, [["Test", "Result"], ["Potassium", "3.4 mmol/L"]], (0.1, 0.2, 0.6, 0.1))
    doc.text(page, "LAYOUT_PAGE_NUMBER", "Page 1 of 1", (0.8, 0.95, 0.1, 0.02))
    script(pages=1, blocks=doc.blocks)

    [reading] = await ocr(client, fake_time).read_document(KEY, sizes={1: (595.0, 842.0)})

    assert [b.kind for b in reading.blocks] == [
        BlockKind.HEADING,
        BlockKind.TABLE,
        BlockKind.FURNITURE,
    ]
    table = reading.blocks[1].table
    assert table is not None
    assert table.header is not None
    assert [(c.text, c.header) for c in table.body[0].cells] == [
        ("Potassium", "Test"),
        ("3.4 mmol/L", "Result"),
    ]
    assert reading.source is PageSource.OCR
    assert reading.width == 595.0
    assert "Page 1 of 1" in reading.text


async def test_a_document_without_any_line_gives_empty_pages(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=2, blocks=[page_block(1), page_block(2)])

    assert texts(await ocr(client, fake_time).read_document(KEY)) == [Page(1, ""), Page(2, "")]


async def test_waits_while_the_job_is_in_progress(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=1, blocks=[line(1, "Scanned note")], status="IN_PROGRESS")
    _, calls = client

    def finish_after_two_waits() -> None:
        if len(fake_time.sleeps) == 2:
            [polled] = {params["JobId"] for params in calls.of("GetDocumentAnalysis")}
            job(polled).job["JobStatus"] = "SUCCEEDED"

    fake_time.on_sleep = finish_after_two_waits

    pages = texts(await ocr(client, fake_time, poll_interval=2.0).read_document(KEY))

    assert pages == [Page(1, "Scanned note")]
    assert fake_time.sleeps == [2.0, 2.0]
    assert len(calls.of("GetDocumentAnalysis")) == 3


async def test_follows_next_token_through_every_page_of_results(
    client: tuple[Any, Calls],
    fake_time: FakeTime,
    script: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = [
        page_block(1),
        line(1, "first"),
        line(1, "second"),
        page_block(2),
        line(2, "third"),
        line(1, "late line of page one"),
        page_block(3),
    ]
    script(pages=3, blocks=blocks)
    per_answer = 2

    def paged(self: TextractResponse) -> str:
        # Textract's paging, which moto lacks: `per_answer` blocks, then a NextToken.
        params = json.loads(self.body)
        result = self.textract_backend.get_document_analysis(params["JobId"], None).to_dict()
        start = int(params.get("NextToken", 0))
        answer = dict(result, Blocks=result["Blocks"][start : start + per_answer])
        if start + per_answer < len(result["Blocks"]):
            answer["NextToken"] = str(start + per_answer)
        return json.dumps(answer)

    monkeypatch.setattr(TextractResponse, "get_document_analysis", paged)

    pages = texts(await ocr(client, fake_time).read_document(KEY))

    assert pages == [
        Page(1, "first\nsecond\nlate line of page one"),
        Page(2, "third"),
        Page(3, ""),
    ]
    _, calls = client
    gets = calls.of("GetDocumentAnalysis")
    assert [params.get("NextToken") for params in gets] == [None, "2", "4", "6"]
    assert all(params["MaxResults"] == 1000 for params in gets)


async def test_partial_success_keeps_the_pages_textract_read(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=2, blocks=[line(2, "Legible page")], status="PARTIAL_SUCCESS")

    pages = texts(await ocr(client, fake_time).read_document(KEY))
    assert pages == [Page(1, ""), Page(2, "Legible page")]


async def test_a_failed_job_is_ocr_failed(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=1, blocks=[], status="FAILED")

    with pytest.raises(OcrFailed, match="FAILED") as failure:
        texts(await ocr(client, fake_time).read_document(KEY))
    assert failure.value.transient is False


async def test_a_job_still_in_progress_at_the_deadline_is_ocr_failed(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=1, blocks=[], status="IN_PROGRESS")

    textract = ocr(client, fake_time, poll_interval=2.0, timeout=7.0)
    with pytest.raises(OcrFailed, match="did not finish within 7 s") as failure:
        texts(await textract.read_document(KEY))

    assert failure.value.transient is True  # a later attempt resumes the same job
    # Polled at 0, 2, 4, 6 and 7 s: the last wait is cut to the deadline, not past it.
    assert fake_time.sleeps == [2.0, 2.0, 2.0, 1.0]
    _, calls = client
    assert len(calls.of("GetDocumentAnalysis")) == 5


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("InvalidS3ObjectException", False),
        ("UnsupportedDocumentException", False),
        ("DocumentTooLargeException", False),
        ("BadDocumentException", False),
        ("AccessDeniedException", True),
    ],
)
async def test_a_refused_start_is_ocr_failed_naming_the_code(
    client: tuple[Any, Calls],
    fake_time: FakeTime,
    script: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    transient: bool,
) -> None:
    script(pages=1, blocks=[line(1, "never read")])

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise JsonRESTError(code, "refused by the test")

    monkeypatch.setattr(TextractBackend, "start_document_analysis", refuse)

    with pytest.raises(OcrFailed) as failure:
        texts(await ocr(client, fake_time).read_document(KEY))

    assert code in failure.value.message
    assert failure.value.transient is transient
    assert isinstance(failure.value.__cause__, ClientError)
    _, calls = client
    assert calls.of("GetDocumentAnalysis") == []


async def test_throttling_is_retried_by_botocore_then_ocr_failed(
    client: tuple[Any, Calls],
    fake_time: FakeTime,
    script: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script(pages=1, blocks=[])
    attempts: list[int] = []

    def throttle(*args: Any, **kwargs: Any) -> str:
        attempts.append(1)
        raise JsonRESTError("ProvisionedThroughputExceededException", "slow down")

    monkeypatch.setattr(TextractBackend, "start_document_analysis", throttle)

    with pytest.raises(OcrFailed, match="ProvisionedThroughputExceededException") as failure:
        texts(await ocr(client, fake_time).read_document(KEY))

    assert len(attempts) == 2  # AWS_MAX_ATTEMPTS=2: botocore retried once
    assert failure.value.transient is True
    assert fake_time.sleeps == []  # botocore's backoff, not the adapter's


async def test_an_error_while_polling_is_ocr_failed(
    client: tuple[Any, Calls], fake_time: FakeTime, script: Callable[..., None]
) -> None:
    script(pages=1, blocks=[], status="IN_PROGRESS")
    _, calls = client

    def forget_the_job() -> None:
        [polled] = {params["JobId"] for params in calls.of("GetDocumentAnalysis")}
        del textract_backends[ACCOUNT][REGION].async_document_analysis_jobs[polled]

    fake_time.on_sleep = forget_the_job

    with pytest.raises(OcrFailed, match="InvalidJobIdException"):
        texts(await ocr(client, fake_time).read_document(KEY))


def test_request_token_is_per_object_and_valid_for_textract() -> None:
    token = request_token(BUCKET, KEY)
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", token)
    assert token == request_token(BUCKET, KEY)
    assert token != request_token(BUCKET, "documents/other/original.pdf")
    assert token != request_token("another-bucket", KEY)
