"""Snippets: the stretch of a page's own text where a query's words are, HTML-safe, with
matched words in <mark>. Words are compared by their indexed form (spelling, folding, stem),
so `anaemia` is marked for a search for anemia, as the original text says it."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence

from docquery.text.analysis import words_of

SNIPPET_WORDS = 24
ELLIPSIS = "…"


def snippet(text: str, clauses: Sequence[tuple[str, ...]], *, size: int = SNIPPET_WORDS) -> str:
    """The best `size`-word window of `text` for these clauses (each a sequence of stems)."""
    words = words_of(text)
    if not words.keys:
        return ""
    marked = _marked(words.keys, clauses)
    first = _best_window(marked, words.keys, size)
    last = min(first + size, len(words.keys)) - 1
    spans = [words.span(i) for i in range(first, last + 1)]
    parts = [ELLIPSIS] if first > 0 else []
    parts += _render(text, spans, marked[first : last + 1])
    if last < len(words.keys) - 1:
        parts.append(ELLIPSIS)
    return "".join(parts)


def _marked(keys: Sequence[str], clauses: Sequence[tuple[str, ...]]) -> list[int]:
    """Per word, the match it belongs to (0: none): a word anywhere, a phrase only where all
    of it is; the words of one phrase match share a number, and are marked as one."""
    marked = [0] * len(keys)
    singles = {clause[0] for clause in clauses if len(clause) == 1}
    phrases = [clause for clause in clauses if len(clause) > 1]
    firsts = {phrase[0] for phrase in phrases}
    for i, key in enumerate(keys):
        if key in singles and not marked[i]:
            marked[i] = i + 1
        if key in firsts:
            for phrase in phrases:
                if tuple(keys[i : i + len(phrase)]) == phrase:
                    marked[i : i + len(phrase)] = [i + 1] * len(phrase)
    return marked


def _best_window(marked: Sequence[int], keys: Sequence[str], size: int) -> int:
    """The first word of the window holding the most distinct matched words (then most)."""
    hits = [i for i, m in enumerate(marked) if m]
    if not hits:
        return 0
    best, best_score = 0, (-1, -1)
    inside: Counter[str] = Counter()
    end = 0
    for n, start in enumerate(hits):  # windows that start at a match, two pointers
        while end < len(hits) and hits[end] < start + size:
            inside[keys[hits[end]]] += 1
            end += 1
        score = (len(inside), end - n)
        if score > best_score:
            best, best_score = start, score
        inside[keys[start]] -= 1
        if not inside[keys[start]]:
            del inside[keys[start]]
    # Some words of context before the first match, without running past the end.
    return max(0, min(best - size // 4, len(keys) - size))


def _render(text: str, spans: Sequence[tuple[int, int]], marked: Sequence[int]) -> list[str]:
    parts = []
    position = spans[0][0]
    i = 0
    while i < len(spans):
        start, end = spans[i]
        parts.append(html.escape(text[position:start], quote=False))
        if marked[i]:
            j = i
            while j + 1 < len(spans) and marked[j + 1] == marked[i]:
                j += 1
            end = spans[j][1]
            parts.append("<mark>" + html.escape(text[start:end], quote=False) + "</mark>")
            i = j
        else:
            parts.append(html.escape(text[start:end], quote=False))
        position = end
        i += 1
    return parts
