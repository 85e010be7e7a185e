"""Search and answers: the query, hits, retrieved passages and cited answers, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from docquery.domain.documents import Document
from docquery.domain.reading import PageReading, PageSource


@dataclass(frozen=True, slots=True)
class Clause:
    """One searchable unit of a query: a word (one token) or a phrase (tokens in order)."""

    tokens: tuple[str, ...]

    @property
    def is_phrase(self) -> bool:
        return len(self.tokens) > 1


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """A parsed user query: pages match any `include` clause and no `exclude` clause."""

    include: tuple[Clause, ...]
    exclude: tuple[Clause, ...] = ()

    def canonical(self) -> str:
        """A stable text of the query (cursor scopes, caching)."""
        include = " ".join('"' + " ".join(c.tokens) + '"' for c in self.include)
        exclude = " ".join('-"' + " ".join(c.tokens) + '"' for c in self.exclude)
        return f"{include} {exclude}".strip()


@dataclass(frozen=True, slots=True)
class SearchableDocument:
    """What the index keeps of a document's record: enough to filter and title its hits."""

    id: str
    owner: str
    title: str
    tags: tuple[str, ...]
    created_at: datetime


def searchable(document: Document) -> SearchableDocument:
    return SearchableDocument(
        id=document.id,
        owner=document.owner,
        title=document.title,
        tags=document.tags,
        created_at=document.created_at,
    )


@dataclass(frozen=True, slots=True)
class SearchFilters:
    document_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None  # a document must carry every one of them
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    owner: str
    terms: SearchTerms
    filters: SearchFilters
    limit: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class PageHit:
    """One matching page; `snippet` is HTML-safe text with matched terms in <mark>."""

    document_id: str
    title: str
    page: int
    snippet: str
    score: float


@dataclass(frozen=True, slots=True)
class HitPage:
    hits: list[PageHit]
    has_more: bool


@dataclass(frozen=True, slots=True)
class DocumentHit:
    """A matching document and its best pages, best first."""

    document_id: str
    title: str
    pages: list[PageHit]

    @property
    def score(self) -> float:
        return self.pages[0].score


@dataclass(frozen=True, slots=True)
class DocumentHitPage:
    hits: list[DocumentHit]
    has_more: bool


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved page (or part of one) handed to a model as numbered source `number`.

    `text` is the page as printed (what citations are checked against); `markdown`, when
    known, is the page's reading rendered for a language model ("" when it is not); `reading`
    its blocks, and `patient` the name the document states for its patient ("" when none).
    """

    number: int
    document_id: str
    title: str
    page: int
    text: str
    markdown: str = ""
    reading: PageReading | None = None
    patient: str = ""


@dataclass(frozen=True, slots=True)
class DraftCitation:
    """A citation as the model gave it: a source number and a quote it claims is there."""

    source: int
    quote: str


@dataclass(frozen=True, slots=True)
class Draft:
    """A model's answer before docquery has checked its citations."""

    text: str
    citations: tuple[DraftCitation, ...]


@dataclass(frozen=True, slots=True)
class Citation:
    """A verified citation: `quote` occurs in the stored text of `page`; `source` is the
    number the answer's [n] markers use."""

    source: int
    document_id: str
    title: str
    page: int
    quote: str
    # How the cited page was read: a quote from an OCR'd scan may hold a misread character
    # (a lost decimal point), so clients can tell a clinician to check it against the original.
    read_by: PageSource = PageSource.TEXT_LAYER
    ocr_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    grounded: bool
