"""BedrockLanguageModel: clinical summaries and grounded answers from Amazon Bedrock.

Summaries and answers go through the Converse API, streamed answers through ConverseStream;
both share one retry policy and one mapping of SDK errors to ModelFailed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aiohttp
from botocore.eventstream import ParserError
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from docquery.adapters.aws.bedrock_answers import answer_with, stream_answer_with
from docquery.adapters.aws.bedrock_summaries import parse_tool_summary, tool_config, tool_input
from docquery.domain.processing import FailureCode, Summary
from docquery.domain.reading import PageReading
from docquery.domain.search import Draft, Passage
from docquery.errors import ModelFailed
from docquery.text.markdown import page_markdown
from docquery.text.prompts_summary import (
    Prompt,
    Sections,
    combine_batches,
    combine_prompt,
    document_prompts,
    parse_summary,
)

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig

    from docquery.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# Worth more tries after botocore's own retries gave up: the service is busy, the request fine.
_BUSY = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
    }
)
_TIMEOUT = frozenset({"ModelTimeoutException"})
# A stream that broke before it said anything is worth another try, like a busy service.
_RETRYABLE = _BUSY | _TIMEOUT | {"ModelStreamErrorException"}
# What a call can fail with: SDK errors, and (while a stream is read) the HTTP library's own.
_CALL_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError, ParserError)
# An answer that is not a summary is asked for once more, then the summary fails.
_ANSWER_ATTEMPTS = 2


def bedrock_client_config(settings: Settings) -> AioConfig:
    """Client config: explicit timeouts, botocore's standard retries (jittered backoff)."""
    from aiobotocore.config import AioConfig

    return AioConfig(
        connect_timeout=5,
        read_timeout=settings.bedrock_timeout_seconds,
        # total_max_attempts counts the first try; standard mode retries throttling, 5xx and
        # read/connect timeouts with exponential backoff and jitter before we ever see them.
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        max_pool_connections=max(10, 2 * settings.bedrock_concurrency),
    )


def bedrock_language_model(client: Any, settings: Settings) -> BedrockLanguageModel:
    """The adapter configured from settings, around a client opened by the wiring."""
    return BedrockLanguageModel(
        client,
        model_id=settings.bedrock_model_id,
        max_input_tokens=settings.bedrock_max_input_tokens,
        max_output_tokens=settings.bedrock_max_output_tokens,
        concurrency=settings.bedrock_concurrency,
    )


class BedrockLanguageModel:
    """Summaries and answers from one Bedrock model; long documents in page groups, then merged.

    `client` is an aiobotocore `bedrock-runtime` client, typed Any because its stubs
    (types-aiobotocore-bedrock-runtime) are not a dependency. Prompts and answers hold patient
    data and are never logged: only the model id, token counts, timings and error codes are.
    """

    def __init__(
        self,
        client: Any,
        *,
        model_id: str,
        max_input_tokens: int,
        max_output_tokens: int,
        concurrency: int,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 20.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        document_prompts([], max_input_tokens)  # refuses a budget with no room for text
        self._client = client
        self._model_id = model_id
        self._max_input_tokens = max_input_tokens
        self._max_output_tokens = max_output_tokens
        self._semaphore = asyncio.Semaphore(concurrency)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        # Jitter spreads retries of concurrent callers; it needs no cryptographic quality.
        self._random = random.Random()  # noqa: S311

    @property
    def model_id(self) -> str:
        return self._model_id

    async def summarise(self, pages: Sequence[PageReading]) -> Summary:
        started = time.monotonic()
        # The model reads each page's Markdown: a page of furniture alone has none to send.
        with_text = [page for page in pages if page_markdown(page).strip()]
        sections: Sections = ()
        if with_text:
            valid_pages = frozenset(page.number for page in with_text)
            prompts = document_prompts(with_text, self._max_input_tokens)
            partials = await _all([self._ask(prompt, valid_pages) for prompt in prompts])
            sections = await self._merge(partials, valid_pages)
        log.info(
            "bedrock.summarised",
            extra={"model_id": self._model_id, "duration_ms": _ms_since(started)},
        )
        return Summary(sections=sections, model_id=self._model_id, created_at=datetime.now(UTC))

    async def _merge(self, partials: list[Sections], valid_pages: frozenset[int]) -> Sections:
        """Merge partial summaries in rounds until one is left (empty partials add nothing)."""
        partials = [part for part in partials if part]
        while len(partials) > 1:
            batches = combine_batches(partials, self._max_input_tokens)
            partials = await _all([self._merge_batch(batch, valid_pages) for batch in batches])
        return partials[0] if partials else ()

    async def _merge_batch(self, batch: list[Sections], valid_pages: frozenset[int]) -> Sections:
        if len(batch) == 1:
            return batch[0]
        return await self._ask(combine_prompt(batch, self._max_input_tokens), valid_pages)

    async def _ask(self, prompt: Prompt, valid_pages: frozenset[int]) -> Sections:
        """One summary from the model's `record_summary` call; a reply without a valid one is
        asked for once more."""
        request = self._request(prompt) | {"toolConfig": tool_config()}
        async with self._semaphore:
            for attempt in range(1, _ANSWER_ATTEMPTS + 1):
                response = await self._call(request, prompt)
                data = tool_input(response)
                sections = (
                    parse_tool_summary(data, valid_pages)
                    if data is not None
                    # A model that wrote the summary as text instead is read as before.
                    else parse_summary(_answer_text(response), valid_pages)
                )
                if sections is not None:
                    return sections
                log.warning(
                    "bedrock.unreadable_answer",
                    extra={"model_id": self._model_id, "attempt": attempt},
                )
        raise ModelFailed(FailureCode.MODEL_ERROR, "the model's answer was not a valid summary")

    async def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        async with self._semaphore:
            return await answer_with(
                self._converse,
                question,
                passages,
                model_id=self._model_id,
                max_input_tokens=self._max_input_tokens,
            )

    def stream_answer(
        self, question: str, passages: Sequence[Passage]
    ) -> AsyncGenerator[str | Draft]:
        return stream_answer_with(
            self._converse_stream,
            question,
            passages,
            model_id=self._model_id,
            max_input_tokens=self._max_input_tokens,
        )

    async def _converse(self, prompt: Prompt) -> str:
        """The model's text for one prompt."""
        return _answer_text(await self._call(self._request(prompt), prompt))

    async def _call(self, request: dict[str, Any], prompt: Prompt) -> dict[str, Any]:
        """One Converse response, retrying a busy service with jittered backoff."""
        for attempt in range(1, self._max_attempts + 1):
            started = time.monotonic()
            try:
                response = await self._client.converse(**request)
            except _CALL_ERRORS as exc:
                await self._retry_or_raise(exc, attempt, started)
                continue
            self._log_usage("bedrock.converse", response, prompt, started)
            return dict(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _converse_stream(self, prompt: Prompt) -> AsyncGenerator[str, None]:
        """The model's text as it is written; a failure before the first piece is retried.

        A concurrency slot is held until the stream ends or the consumer closes it.
        """
        request = self._request(prompt)
        async with self._semaphore:
            for attempt in range(1, self._max_attempts + 1):
                started = time.monotonic()
                written = False
                summary: dict[str, Any] = {}
                try:
                    stream = (await self._client.converse_stream(**request))["stream"]
                    try:
                        async for event in stream:
                            if text := _event_text(event, summary):
                                written = True
                                yield text
                    finally:
                        stream.close()  # also when the consumer stops early
                except _CALL_ERRORS as exc:
                    # Text already handed out cannot be taken back: only a silent failure retries.
                    await self._retry_or_raise(exc, attempt, started, retry=not written)
                    continue
                self._log_usage("bedrock.converse_stream", summary, prompt, started)
                return

    async def _retry_or_raise(
        self, exc: Exception, attempt: int, started: float, *, retry: bool = True
    ) -> None:
        """Back off before the next attempt, or raise ModelFailed when this failure is final."""
        fault = _fault(exc)
        self._log_error(fault.code, attempt, started)
        if not (retry and fault.retryable and attempt < self._max_attempts):
            raise ModelFailed(fault.failure, fault.detail) from exc
        await self._sleep(self._backoff(attempt))

    def _request(self, prompt: Prompt) -> dict[str, Any]:
        return {
            "modelId": self._model_id,
            "system": [{"text": prompt.system}],
            "messages": [{"role": "user", "content": [{"text": prompt.user}]}],
            "inferenceConfig": {"maxTokens": self._max_output_tokens, "temperature": 0},
        }

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a uniform wait up to base * 2^(attempt-1), capped."""
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)

    def _log_error(self, code: str, attempt: int, started: float) -> None:
        log.warning(
            "bedrock.converse_failed",
            extra={
                "model_id": self._model_id,
                "code": code,
                "attempt": attempt,
                "duration_ms": _ms_since(started),
            },
        )

    def _log_usage(
        self, event: str, response: dict[str, Any], prompt: Prompt, started: float
    ) -> None:
        usage = response.get("usage", {})
        log.info(
            event,
            extra={
                "model_id": self._model_id,
                "estimated_input_tokens": prompt.estimated_tokens,
                "input_tokens": usage.get("inputTokens"),
                "output_tokens": usage.get("outputTokens"),
                "stop_reason": response.get("stopReason"),
                "duration_ms": _ms_since(started),
            },
        )


class _Fault(NamedTuple):
    code: str
    failure: FailureCode
    retryable: bool
    detail: str


def _fault(exc: Exception) -> _Fault:
    """What a failed call means: its code, the ModelFailed code, and whether to try again."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        code = code[:1].upper() + code[1:]  # stream events name it "throttlingException"
        detail = f"Bedrock answered {code or 'an error'}"
        return _Fault(code, _failure_for(code), code in _RETRYABLE, detail)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        # botocore's standard mode has already retried these (up to the response) with backoff.
        return _Fault("Timeout", FailureCode.MODEL_TIMEOUT, False, "Bedrock did not answer")
    detail = "Bedrock unreachable, or its reply broke off"
    return _Fault(type(exc).__name__, FailureCode.MODEL_ERROR, False, detail)


def _event_text(event: dict[str, Any], summary: dict[str, Any]) -> str:
    """The text of a ConverseStream event; the stop reason and usage are kept in `summary`."""
    if "contentBlockDelta" in event:
        text = event["contentBlockDelta"].get("delta", {}).get("text")
        return text if isinstance(text, str) else ""
    if "messageStop" in event:
        summary["stopReason"] = event["messageStop"].get("stopReason")
    elif "metadata" in event:
        summary["usage"] = event["metadata"].get("usage", {})
    return ""


def _failure_for(code: str) -> FailureCode:
    if code in _BUSY:
        return FailureCode.MODEL_THROTTLED
    if code in _TIMEOUT:
        return FailureCode.MODEL_TIMEOUT
    return FailureCode.MODEL_ERROR


def _answer_text(response: dict[str, Any]) -> str:
    """The text blocks of the assistant's message, joined ("" if there are none)."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    return "".join(block["text"] for block in content if isinstance(block.get("text"), str))


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
