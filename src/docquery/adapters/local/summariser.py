"""LocalLanguageModel: an extractive clinical summary, deterministic and offline.

A document read into blocks is summarised from its structure (summary_structure.py); pages
known only by their text fall back to ranked sentences (summary_sentences.py). No model, no
network, no randomness.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime

from docquery.adapters.local.answerer import extract_answer, text_pieces
from docquery.adapters.local.summary_assembly import assemble
from docquery.adapters.local.summary_sentences import extract_sections
from docquery.adapters.local.summary_structure import has_structure
from docquery.domain.processing import Page, Summary, SummarySection
from docquery.domain.reading import PageReading
from docquery.domain.search import Draft, Passage

MODEL_ID = "docquery-extractive-v1"


class LocalLanguageModel:
    """Extractive summaries and answers, computed in a worker thread: the event loop stays free."""

    def __init__(self, model_id: str = MODEL_ID) -> None:
        self._model_id = model_id
        # One summary at a time: the work holds the GIL, so more threads would gain nothing
        # and would only take slots of the default thread pool that file I/O needs.
        self._limiter = asyncio.Semaphore(1)

    @property
    def model_id(self) -> str:
        return self._model_id

    async def summarise(self, pages: Sequence[PageReading]) -> Summary:
        async with self._limiter:
            sections = await asyncio.to_thread(summary_sections, tuple(pages))
        return Summary(sections=sections, model_id=self._model_id, created_at=datetime.now(UTC))

    async def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        async with self._limiter:
            return await asyncio.to_thread(extract_answer, question, tuple(passages))

    async def stream_answer(
        self, question: str, passages: Sequence[Passage]
    ) -> AsyncGenerator[str | Draft]:
        draft = await self.answer(question, passages)
        for piece in text_pieces(draft.text):
            yield piece
        yield draft


def summary_sections(pages: Sequence[PageReading]) -> tuple[SummarySection, ...]:
    """From the structure when the pages were read into blocks, else from ranked sentences."""
    if has_structure(pages):
        return assemble(pages)
    return extract_sections(tuple(Page(page.number, page.text) for page in pages))
