"""Citation verification: an answer keeps only the citations whose quotes are really in the pages.

A model may misnumber a source, paraphrase a quote or invent one. Each quote is checked against
the stored text of the page its source came from; what cannot be found there is dropped, and so
are the answer's [n] markers that no longer have a citation behind them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from docquery.domain.reading import PageSource
from docquery.domain.search import Answer, Citation, Draft, DraftCitation, Passage
from docquery.text.answers import NOT_FOUND_ANSWER, normalise

# Shorter quotes ("the", "mg") occur almost anywhere and prove nothing.
MIN_QUOTE_CHARS = 8

# [1], [1][2] and [1, 2]: the forms a model uses to mark support.
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# Where a removed marker was (a NUL stands in for it), with the spaces around it.
_REMOVED = "\x00"
_GAP_AT_LINE_START = re.compile(r"^([ \t]*)\x00[\x00 \t]*", re.MULTILINE)
_GAP_BEFORE_PUNCTUATION = re.compile(r"[ \t]*\x00[\x00 \t]*(?=[.,;:!?)\]]|$)", re.MULTILINE)
_GAP = re.compile(r"[ \t]*\x00[\x00 \t]*")
# A row quoted from a Markdown table: cells joined by " | " (and a "\|" inside a cell).
_CELL_SEPARATOR = re.compile(r"\s*(?<!\\)\|\s*")

PageKey = tuple[str, int]


def verify(draft: Draft, passages: Sequence[Passage], page_texts: Mapping[PageKey, str]) -> Answer:
    """The draft with verified citations only; ungrounded NOT_FOUND_ANSWER if none is left."""
    by_number = {passage.number: passage for passage in passages}
    pages = _NormalisedPages(page_texts)
    verified: dict[tuple[int, str], Citation] = {}
    for draft_citation in draft.citations:
        citation = _verified(draft_citation, by_number, pages)
        if citation is not None:
            verified.setdefault((citation.source, citation.quote), citation)
    if not verified:
        return Answer(text=NOT_FOUND_ANSWER, citations=(), grounded=False)
    cited = frozenset(source for source, _ in verified)
    return Answer(
        text=keep_markers(draft.text, cited), citations=tuple(verified.values()), grounded=True
    )


def keep_markers(text: str, sources: frozenset[int]) -> str:
    """The text with [n] markers only for the given sources, and no spacing left behind."""

    def kept(match: re.Match[str]) -> str:
        numbers = [int(n) for n in match[1].split(",")]
        wanted = [str(n) for n in numbers if n in sources]
        return "[" + ", ".join(wanted) + "]" if wanted else _REMOVED

    text = _MARKER.sub(kept, text.replace(_REMOVED, ""))
    text = _GAP_AT_LINE_START.sub(r"\1", text)  # "[2] Starts" -> "Starts"
    text = _GAP_BEFORE_PUNCTUATION.sub("", text)  # "stable [2]." -> "stable."
    # "low [2] and" -> "low and"; "fell [3][1]" -> "fell [1]"
    return _GAP.sub(lambda gap: " " if gap[0].strip(_REMOVED) else "", text).strip()


def _verified(
    draft_citation: DraftCitation, by_number: Mapping[int, Passage], pages: _NormalisedPages
) -> Citation | None:
    passage = by_number.get(draft_citation.source)
    if passage is None:
        return None
    quote = _found(normalise(draft_citation.quote), pages.text(passage), passage)
    if quote is None:
        return None
    reading = passage.reading
    return Citation(
        source=passage.number,
        document_id=passage.document_id,
        title=passage.title,
        page=passage.page,
        quote=quote,
        read_by=reading.source if reading is not None else PageSource.TEXT_LAYER,
        ocr_confidence=reading.ocr_confidence if reading is not None else None,
    )


def _found(quote: str, page: str, passage: Passage) -> str | None:
    """The quote as printed on the page, or None; a Markdown table row counts as its cells."""
    for candidate in (quote, without_table_pipes(quote)):
        if len(candidate) < MIN_QUOTE_CHARS:
            continue
        # The passage is an excerpt of its page: a quote from elsewhere on that page is true.
        if candidate in page or candidate in normalise(passage.text):
            return candidate
    return None


def without_table_pipes(quote: str) -> str:
    """A quote of a Markdown table row as the page prints it: its cells' words, space apart."""
    cells = _CELL_SEPARATOR.split(quote.strip().strip("|"))
    return normalise(" ".join(cells).replace("\\|", "|"))


class _NormalisedPages:
    """Stored page texts, each normalised once however many citations point into it."""

    def __init__(self, page_texts: Mapping[PageKey, str]) -> None:
        self._raw = page_texts
        self._normalised: dict[PageKey, str] = {}

    def text(self, passage: Passage) -> str:
        key = (passage.document_id, passage.page)
        if key not in self._normalised:
            self._normalised[key] = normalise(self._raw.get(key, ""))
        return self._normalised[key]
