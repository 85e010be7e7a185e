"""SearchIndex: full-text search over the extracted pages of every ready document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from docquery.domain.processing import Page
from docquery.domain.search import (
    DocumentHitPage,
    HitPage,
    SearchableDocument,
    SearchQuery,
)


class SearchIndex(Protocol):
    """Pages by owner, ranked by BM25; every change to a document replaces what was there."""

    async def replace(self, document: SearchableDocument, pages: Sequence[Page]) -> None:
        """Index the document's pages, atomically replacing anything indexed for it before."""

    async def update_document(self, document: SearchableDocument) -> None:
        """New title or tags for an indexed document (no-op if it is not indexed)."""

    async def remove(self, document_id: str) -> None:
        """Drop every page of the document (idempotent)."""

    async def search(self, query: SearchQuery) -> HitPage:
        """One page of the owner's best-matching pages, best first."""
        ...

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        """One page of the owner's documents ranked by their best page, with their best pages."""
        ...

    async def page_texts(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The indexed text of the given (document id, page) pairs that exist."""
        ...

    async def indexed_owners(self) -> dict[str, str]:
        """Every indexed document's id, with its owner."""
        ...

    async def indexed_documents(self) -> dict[str, SearchableDocument]:
        """Every indexed document, with the title, tags and time it was indexed with."""
        ...

    async def check(self) -> None:
        """Raise StoreUnavailable unless the index answers."""
