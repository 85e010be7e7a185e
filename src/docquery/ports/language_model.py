"""LanguageModel: summaries (and, later, answers) from a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from docquery.domain.processing import Page, Summary


class LanguageModel(Protocol):
    """Turns extracted pages into a clinical summary whose statements cite their pages."""

    @property
    def model_id(self) -> str:
        """The model (or inference profile) this adapter calls, recorded with every summary."""
        ...

    async def summarise(self, pages: Sequence[Page]) -> Summary:
        """Summarise the document; ModelFailed (with a code) if the model cannot."""
        ...
