"""Words into lines (one baseline) and lines into segments (runs of words without a wide gap)."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from docquery.pipeline.reading.geometry import Word

# A gap wider than this many em, or than this many word spaces, separates two segments
# (two columns, two table cells, a label and its far-off value).
_GAP_EM = 0.8
_GAP_SPACES = 2.5


@dataclass(frozen=True, slots=True)
class Segment:
    """Words of one line with no wide gap between them: a phrase, a cell, a column's line."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def size(self) -> float:
        return max(w.size for w in self.words)

    @property
    def bold(self) -> bool:
        return all(w.bold for w in self.words)


@dataclass(frozen=True, slots=True)
class Line:
    """Segments sharing a baseline, left to right."""

    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    @property
    def x0(self) -> float:
        return self.segments[0].x0

    @property
    def x1(self) -> float:
        return max(s.x1 for s in self.segments)

    @property
    def top(self) -> float:
        return min(s.top for s in self.segments)

    @property
    def bottom(self) -> float:
        return max(s.bottom for s in self.segments)

    @property
    def size(self) -> float:
        return max(s.size for s in self.segments)

    @property
    def bold(self) -> bool:
        return all(s.bold for s in self.segments)


def build_lines(words: Iterable[Word]) -> list[Line]:
    """Group words into lines, top to bottom, each split into segments at wide gaps."""
    ordered = sorted(words, key=lambda w: ((w.top + w.bottom) / 2, w.x0))
    groups: list[list[Word]] = []
    anchor = (0.0, 0.0)
    for word in ordered:
        mid = (word.top + word.bottom) / 2
        if groups and anchor[0] <= mid <= anchor[1]:
            groups[-1].append(word)
            continue
        groups.append([word])
        # The first word fixes the band: later words join only if their middle falls inside it.
        pad = 0.25 * word.height
        anchor = (word.top + pad, word.bottom - pad)
    groups = [_dedupe(g) for g in groups]
    gutters = _gutters(groups)
    return [Line(tuple(split_segments(g, gutters))) for g in groups]


def _gutters(groups: list[list[Word]]) -> list[float]:
    """Middles of narrow vertical strips that almost no line of text crosses (column gutters).

    Justified columns set close together can stand apart by less than a wide word space; what
    gives the gutter away is that it stays empty line after line.
    """
    lines = [g for g in groups if len(g) >= 4]
    if len(lines) < 6:
        return []
    left = min(g[0].x0 for g in lines)
    right = max(g[-1].x1 for g in lines)
    width = int(right - left)
    if width < 100:
        return []
    crossings = _crossings(lines, left, width)
    limit = 0.1 * len(lines)
    gutters, run = [], []
    for x in range(int(0.2 * width), int(0.8 * width)):
        if crossings[x] <= limit:
            run.append(x)
            continue
        if len(run) >= 5:
            gutters.append(left + (run[0] + run[-1]) / 2)
        run = []
    return gutters


def _dedupe(words: list[Word]) -> list[Word]:
    # Fake bold is the same word painted twice at almost the same place.
    words.sort(key=lambda w: w.x0)
    out: list[Word] = []
    for word in words:
        if out and out[-1].text == word.text and abs(out[-1].x0 - word.x0) < 1.0:
            continue
        out.append(word)
    return out


def _crossings(lines: list[list[Word]], left: float, width: int) -> list[int]:
    """For each point across the text, how many lines cover it with a word or a word space."""
    steps = [0] * (width + 2)
    for group in lines:
        spans = [(w.x0, w.x1) for w in group]
        # A space inside a line covers its gap; a wide gap (a column's edge) does not.
        spans += [(a.x1, b.x0) for a, b in itertools.pairwise(group) if b.x0 - a.x1 < 0.6 * a.size]
        for x0, x1 in spans:
            steps[max(0, int(x0 - left))] += 1
            steps[min(width, int(x1 - left)) + 1] -= 1
    return list(itertools.accumulate(steps))[: width + 1]


def split_segments(words: Sequence[Word], gutters: Sequence[float] = ()) -> list[Segment]:
    """Split one line's words (left to right) wherever the gap is much wider than a space or
    a column gutter runs through it."""
    if not words:
        return []
    gaps = [b.x0 - a.x1 for a, b in itertools.pairwise(words)]
    size = statistics.median(w.size for w in words)
    small = [g for g in gaps if g < 0.6 * size]
    space = statistics.median(small) if small else 0.25 * size
    limit = max(_GAP_EM * size, _GAP_SPACES * space)
    segments: list[Segment] = []
    current = [words[0]]
    for gap, word in zip(gaps, words[1:], strict=False):
        at_gutter = gap > 1.5 * space and any(current[-1].x1 <= g <= word.x0 for g in gutters)
        if gap > limit or at_gutter:
            segments.append(Segment(tuple(current)))
            current = []
        current.append(word)
    segments.append(Segment(tuple(current)))
    return segments


def line_of(segments: Sequence[Segment]) -> Line:
    """A line made of the given segments, left to right."""
    return Line(tuple(sorted(segments, key=lambda s: s.x0)))
