"""Citation verification: an answer keeps only the citations whose quotes are really in the pages.

A model may misnumber a source, paraphrase a quote or invent one. Each quote is checked against
the stored text of the page its source came from; what cannot be found there is dropped, and so
are the answer's [n] markers that no longer have a citation behind them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

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
    quote = normalise(draft_citation.quote)
    if passage is None or len(quote) < MIN_QUOTE_CHARS:
        return None
    # The passage is an excerpt of its page: a quote from elsewhere on that page is still true.
    if quote not in pages.text(passage) and quote not in normalise(passage.text):
        return None
    return Citation(
        source=passage.number,
        document_id=passage.document_id,
        title=passage.title,
        page=passage.page,
        quote=quote,
    )


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
