"""Grounded answers from a Bedrock model: the answer prompt sent, the reply read whole or streamed.

The calls themselves (retries, error mapping, the concurrency limit) belong to
BedrockLanguageModel, which hands its `converse` and `converse_stream` helpers in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

from docquery.domain.search import Draft, Passage
from docquery.text.answers import NOT_FOUND_ANSWER
from docquery.text.prompts_answer import (
    ProseSplitter,
    answer_prompt,
    fit_passages,
    parse_answer,
)
from docquery.text.prompts_summary import Prompt

log = logging.getLogger(__name__)

Converse = Callable[[Prompt], Awaitable[str]]
ConverseStream = Callable[[Prompt], AsyncGenerator[str, None]]


async def answer_with(
    converse: Converse,
    question: str,
    passages: Sequence[Passage],
    *,
    model_id: str,
    max_input_tokens: int,
) -> Draft:
    """The model's answer from the passages that fit the budget (no call if none does)."""
    started = time.monotonic()
    sources = fit_passages(question, passages, max_input_tokens)
    reply = await converse(answer_prompt(question, sources)) if sources else NOT_FOUND_ANSWER
    draft = parse_answer(reply)
    _log_answered("bedrock.answered", model_id, len(sources), draft, started)
    return draft


async def stream_answer_with(
    stream: ConverseStream,
    question: str,
    passages: Sequence[Passage],
    *,
    model_id: str,
    max_input_tokens: int,
) -> AsyncGenerator[str | Draft]:
    """The answer's prose as the model writes it (never its citations block), then the Draft."""
    started = time.monotonic()
    sources = fit_passages(question, passages, max_input_tokens)
    prose = ProseSplitter()
    deltas = stream(answer_prompt(question, sources)) if sources else _once(NOT_FOUND_ANSWER)
    # Closed even when our consumer stops early: the stream holds a connection and a slot.
    async with aclosing(deltas):
        async for delta in deltas:
            if piece := prose.feed(delta):
                yield piece
    if rest := prose.finish():
        yield rest
    draft = parse_answer(prose.reply)
    _log_answered("bedrock.answer_streamed", model_id, len(sources), draft, started)
    yield draft


async def _once(text: str) -> AsyncGenerator[str, None]:
    yield text


def _log_answered(event: str, model_id: str, sent: int, draft: Draft, started: float) -> None:
    # Counts and timings only: the question, passages and answer hold patient data.
    log.info(
        event,
        extra={
            "model_id": model_id,
            "count": sent,  # passages sent, after the budget
            "citations": len(draft.citations),  # as the model gave them, before verification
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
