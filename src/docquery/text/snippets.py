"""Snippets: the stretch of a page's own text where a query's words are, HTML-safe, with
matched words in <mark>. Words are compared by their indexed form (spelling, folding, stem),
so `anaemia` is marked for a search for anemia, as the original text says it."""

from __future__ import annotations

import html
from collections.abc import Sequence

from docquery.text.analysis import WORD, stems_of

SNIPPET_WORDS = 24
ELLIPSIS = "…"


def snippet(text: str, clauses: Sequence[tuple[str, ...]], *, size: int = SNIPPET_WORDS) -> str:
    """The best `size`-word window of `text` for these clauses (each a sequence of stems)."""
    spans = [(m.start(), m.end()) for m in WORD.finditer(text)]
    if not spans:
        return ""
    keys = [_key(text[start:end]) for start, end in spans]
    marked = _marked(keys, clauses)
    first = _best_window(marked, keys, len(spans), size)
    last = min(first + size, len(spans)) - 1
    return _render(text, spans, marked, first, last)


def _key(word: str) -> str:
    stems = stems_of(word)
    return stems[0] if len(stems) == 1 else " ".join(stems)


def _marked(keys: Sequence[str], clauses: Sequence[tuple[str, ...]]) -> list[int]:
    """Per word, the match it belongs to (0: none): a word anywhere, a phrase only where all
    of it is; the words of one phrase match share a number, and are marked as one."""
    marked = [0] * len(keys)
    singles = {clause[0] for clause in clauses if len(clause) == 1}
    phrases = [clause for clause in clauses if len(clause) > 1]
    for i, key in enumerate(keys):
        if key in singles and not marked[i]:
            marked[i] = i + 1
        for phrase in phrases:
            if key == phrase[0] and tuple(keys[i : i + len(phrase)]) == phrase:
                marked[i : i + len(phrase)] = [i + 1] * len(phrase)
    return marked


def _best_window(marked: Sequence[int], keys: Sequence[str], count: int, size: int) -> int:
    """The first word of the window holding the most distinct matched words (then most)."""
    hits = [i for i, m in enumerate(marked) if m]
    if not hits:
        return 0
    best, best_score = 0, (-1, -1)
    for start in hits:
        window = [i for i in hits if start <= i < start + size]
        score = (len({keys[i] for i in window}), len(window))
        if score > best_score:
            best, best_score = start, score
    # Some words of context before the first match, without running past the end.
    return max(0, min(best - size // 4, count - size))


def _render(
    text: str, spans: Sequence[tuple[int, int]], marked: Sequence[int], first: int, last: int
) -> str:
    parts = [ELLIPSIS] if first > 0 else []
    position = spans[first][0]
    i = first
    while i <= last:
        start, end = spans[i]
        parts.append(html.escape(text[position:start], quote=False))
        if marked[i]:
            j = i
            while j + 1 <= last and marked[j + 1] == marked[i]:
                j += 1
            end = spans[j][1]
            parts.append("<mark>" + html.escape(text[start:end], quote=False) + "</mark>")
            i = j
        else:
            parts.append(html.escape(text[start:end], quote=False))
        position = end
        i += 1
    if last < len(spans) - 1:
        parts.append(ELLIPSIS)
    return "".join(parts)
