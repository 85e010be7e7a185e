"""Ocr: the words of a page image, for pages without a usable text layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from docquery.domain.reading import Box


@dataclass(frozen=True, slots=True)
class OcrWord:
    """A word read from the image; its box in points (top-left origin), straightened."""

    text: str
    box: Box
    confidence: float


@dataclass(frozen=True, slots=True)
class OcrText:
    """The words of one page image and the engine's mean confidence (0..1)."""

    words: tuple[OcrWord, ...]
    confidence: float


class Ocr(Protocol):
    """Reads one page image. Blocking: it runs inside an extraction worker process.

    `image` is a grayscale PIL image of a page `width` x `height` points drawn at `scale`
    pixels per point. Raises OcrTimeout past `timeout` seconds.
    """

    def read(
        self, image: Any, *, width: float, height: float, scale: float, timeout: float
    ) -> OcrText: ...
