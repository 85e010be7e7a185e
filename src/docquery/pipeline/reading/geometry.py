"""What layout analysis reads: words and ruling lines with boxes (top-left origin, points)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """A run of characters without a space, in one font size and weight."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    bold: bool = False

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal or vertical ruling line (or a thin filled rectangle) on the page."""

    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def horizontal(self) -> bool:
        return (self.x1 - self.x0) >= (self.bottom - self.top)


@dataclass(frozen=True, slots=True)
class PageContent:
    """The raw material of one page: its words, rules and how much of it images cover."""

    width: float
    height: float
    words: tuple[Word, ...]
    rules: tuple[Rule, ...] = ()
    image_coverage: float = 0.0
