"""LanguageModel: clinical summaries and answers from a model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from docquery.domain.processing import Summary
from docquery.domain.reading import PageReading
from docquery.domain.search import Draft, Passage


class LanguageModel(Protocol):
    """Summarises pages and answers questions from numbered passages, citing what it used."""

    @property
    def model_id(self) -> str:
        """The model (or inference profile) this adapter calls, recorded with every summary."""
        ...

    async def summarise(self, pages: Sequence[PageReading]) -> Summary:
        """Summarise the document's pages; ModelFailed (with a code) if the model cannot."""
        ...

    async def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        """Answer from the passages only. The text marks what supports it with [n], n a
        passage number, and each citation quotes that passage. A model that finds no answer
        in the passages says so and cites nothing. ModelFailed if the model cannot answer."""
        ...

    def stream_answer(
        self, question: str, passages: Sequence[Passage]
    ) -> AsyncGenerator[str | Draft]:
        """The same answer as it is written: text pieces, then the whole Draft as the last item."""
        ...
