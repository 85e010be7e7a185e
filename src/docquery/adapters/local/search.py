"""TantivySearchIndex: pages in a Tantivy index per owner, ranked by BM25 with English stemming.

The embedded SearchIndex, and each aws task's local copy. Searches run on reader threads
against the last committed state; writes go through one writer thread in batches
(search_store). Tantivy scores with block-max WAND, skipping pages that cannot reach the top,
so a search costs milliseconds in the server's own process, without worker processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from tantivy import DocAddress, Index, Searcher

from docquery.adapters.local.search_schema import (
    StoredPassage,
    doc_key,
    include_stems,
    pages_of,
    passage_document,
    read_record,
    search_query,
    search_term,
    stored,
)
from docquery.adapters.local.search_store import Batches, OwnerIndex, OwnerIndexes
from docquery.domain.processing import Page
from docquery.domain.search import (
    Clause,
    DocumentHit,
    DocumentHitPage,
    HitPage,
    PageHit,
    SearchableDocument,
    SearchFilters,
    SearchQuery,
    SearchTerms,
)
from docquery.errors import StoreUnavailable
from docquery.text.snippets import snippet

log = logging.getLogger(__name__)

T = TypeVar("T")
# group=document: the most top pages looked through for enough documents before grouping
# every match instead.
MAX_GROUPED_PAGES = 5000
READER_THREADS = 2
# What readiness searches for, in every owner's index: it takes every step a search takes.
READINESS_TERMS = SearchTerms(include=(Clause(("readiness",)),))


class TantivySearchIndex:
    """A Tantivy index per owner under `root` (search_store), behind the SearchIndex port."""

    def __init__(self, root: Path) -> None:
        self._indexes = OwnerIndexes(root)
        self._writes = Batches(self._indexes)
        self._reads = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="search-reader")

    async def open(self) -> None:
        await self._writes.call(lambda indexes: indexes.open())

    async def close(self) -> None:
        await self._writes.close()
        self._reads.shutdown(wait=True)

    async def _write(self, write: Callable[[OwnerIndexes], None]) -> None:
        try:
            await self._writes.run(write)
        except Exception as exc:
            raise StoreUnavailable("the search index cannot be written") from exc

    async def replace(self, document: SearchableDocument, pages: Sequence[Page]) -> None:
        passages = [StoredPassage(p.number, 0, p.text) for p in pages if p.text.strip()]

        def write(indexes: OwnerIndexes) -> None:
            for entry in indexes.holding(document.id):  # its own, and any other owner's
                indexes.writer(entry).delete_documents_by_term("document_id", document.id)
            writer = indexes.writer(indexes.create(document.owner))
            for passage in passages:
                writer.add_document(passage_document(document, passage))

        await self._write(write)

    async def update_document(self, document: SearchableDocument) -> None:
        def write(indexes: OwnerIndexes) -> None:
            # An earlier write of this batch may have changed its pages: read them committed.
            indexes.commit()
            for entry in indexes.holding(document.id):
                passages = _stored_passages(entry.index.searcher(), document.id)
                writer = indexes.writer(entry)
                writer.delete_documents_by_term("document_id", document.id)
                edited = SearchableDocument(
                    document.id, entry.owner, document.title, document.tags, document.created_at
                )
                for passage in passages:
                    writer.add_document(passage_document(edited, passage))

        await self._write(write)

    async def remove(self, document_id: str) -> None:
        def write(indexes: OwnerIndexes) -> None:
            for entry in indexes.holding(document_id):
                indexes.writer(entry).delete_documents_by_term("document_id", document_id)

        await self._write(write)

    async def owner_of(self, document_id: str) -> str | None:
        """The owner of an indexed document; None if it is not indexed."""
        owners = await self._read(lambda: self._owners_of(document_id))
        return owners[0] if owners else None

    def _owners_of(self, document_id: str) -> list[str]:
        """The owners whose committed index holds the document (one, but for a bug)."""
        self._indexes.refresh()
        term = search_term(document_id)
        return [
            owner
            for owner in self._indexes.owners()
            if (entry := self._indexes.get(owner)) is not None
            and entry.index.searcher().search(term, 1, count=False).hits
        ]

    async def search(self, query: SearchQuery) -> HitPage:
        entry = self._indexes.get(query.owner)
        if entry is None:
            return HitPage(hits=[], has_more=False)
        return await self._read(lambda: _search(entry, query))

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        entry = self._indexes.get(query.owner)
        if entry is None:
            return DocumentHitPage(hits=[], has_more=False)
        return await self._read(lambda: _search_documents(entry, query, pages_per_document))

    async def page_texts(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        wanted: dict[str, set[int]] = {}
        for document_id, page in keys:
            wanted.setdefault(document_id, set()).add(page)

        def read() -> dict[tuple[str, int], str]:
            found: dict[tuple[str, int], str] = {}
            for document_id, pages in wanted.items():
                for passage in self._passages(document_id):
                    if passage.page in pages:
                        key = (document_id, passage.page)
                        found[key] = (found[key] + "\n" if key in found else "") + passage.text
            return found

        return await self._read(read)

    def _passages(self, document_id: str) -> list[StoredPassage]:
        for owner in self._owners_of(document_id):
            entry = self._indexes.get(owner)
            if entry is not None:
                return _stored_passages(entry.index.searcher(), document_id)
        return []

    async def indexed_owners(self) -> dict[str, str]:
        documents = await self.indexed_documents()
        return {document_id: document.owner for document_id, document in documents.items()}

    async def indexed_documents(self) -> dict[str, SearchableDocument]:
        """What is indexed of every document (its record as it was indexed)."""

        def read() -> dict[str, SearchableDocument]:
            self._indexes.refresh()
            return {
                document_id: read_record(owner, document_id, raw)
                for owner in self._indexes.owners()
                for document_id, raw in self._indexes.records(owner)
            }

        return await self._read(read)

    async def check(self) -> None:
        """Ready if every owner's index is on disk and answers a search."""

        def probe() -> None:
            if not self._indexes.root.is_dir():
                raise StoreUnavailable("the search index directory is gone")
            for owner in self._indexes.owners():
                entry = self._indexes.get(owner)
                if entry is None or not Index.exists(str(entry.path)):
                    raise StoreUnavailable("a search index is gone")
                terms = SearchQuery(owner, READINESS_TERMS, SearchFilters(), limit=1)
                _search(entry, terms)

        try:
            await self._read(probe)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable("the search index does not answer") from exc

    async def _read(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reads, work)


def _delete(indexes: OwnerIndexes, owner: str, document_id: str) -> None:
    entry = indexes.get(owner)
    if entry is not None:
        indexes.writer(entry).delete_documents_by_term("document_id", document_id)


def _stored_passages(searcher: Searcher, document_id: str) -> list[StoredPassage]:
    """The document's passages as stored, in page and passage order."""
    result = searcher.search(pages_of([document_id]), max(1, searcher.num_docs))
    passages = []
    for _, address in result.hits:
        doc = searcher.doc(address)
        page = doc.get_first("page")
        if page is not None:
            text = bytes(stored(doc, "text")).decode("utf-8", "surrogatepass")
            passages.append(StoredPassage(int(page), int(stored(doc, "passage")), text))
    return sorted(passages, key=lambda p: (p.page, p.passage))


def _search(entry: OwnerIndex, query: SearchQuery) -> HitPage:
    searcher = entry.index.searcher()
    result = searcher.search(search_query(query), query.limit + 1, count=False, offset=query.offset)
    marks = include_stems(query)
    hits = [_hit(searcher, address, score, marks) for score, address in result.hits]
    return HitPage(hits=hits[: query.limit], has_more=len(hits) > query.limit)


def _hit(
    searcher: Searcher, address: DocAddress, score: float, marks: list[tuple[str, ...]]
) -> PageHit:
    doc = searcher.doc(address)
    document_id = str(stored(doc, "document_id"))
    record = read_record(str(stored(doc, "owner")), document_id, bytes(stored(doc, "record")))
    text = bytes(stored(doc, "text")).decode("utf-8", "surrogatepass")
    return PageHit(
        document_id=document_id,
        title=record.title,
        page=int(stored(doc, "page")),
        snippet=snippet(text, marks),
        score=round(score, 4),
    )


def _best_pages(
    searcher: Searcher,
    query: SearchQuery,
    chosen: list[list[tuple[float, DocAddress]]],
    per_document: int,
) -> list[list[tuple[float, DocAddress]]]:
    """Each chosen document's best pages: where the top pages held fewer than `per_document` of
    one, one search over the chosen documents only, taking more until each has its share (or
    has no more)."""
    short = [i for i, pages in enumerate(chosen) if len(pages) < per_document]
    if not short:
        return chosen
    ids = {i: str(stored(searcher.doc(chosen[i][0][1]), "document_id")) for i in short}
    only = SearchFilters(document_ids=tuple(ids.values()))
    matcher = search_query(SearchQuery(query.owner, query.terms, only, limit=1))
    keys: dict[object, int] = {doc_key(d): i for i, d in ids.items()}
    top = per_document * len(short)
    while True:
        ranked = searcher.search(matcher, top, count=False).hits
        found: dict[int, list[tuple[float, DocAddress]]] = {i: [] for i in short}
        values = searcher.fast_field_values("doc_key", [address for _, address in ranked])
        for (score, address), key in zip(ranked, values, strict=True):
            found[keys[key]].append((score, address))
        if len(ranked) < top or all(len(p) >= per_document for p in found.values()):
            break
        top *= 4
    return [found.get(i, pages) for i, pages in enumerate(chosen)]


def _search_documents(entry: OwnerIndex, query: SearchQuery, per_document: int) -> DocumentHitPage:
    """Documents ranked by their best page. The best pages overall hold the best documents:
    take more of them until they name enough documents (or are all the matches), then each
    chosen document's own best pages."""
    searcher = entry.index.searcher()
    wanted = query.offset + query.limit + 1
    top = wanted * per_document
    matcher = search_query(query)
    while True:
        ranked = searcher.search(matcher, top, count=False).hits
        keys = searcher.fast_field_values("doc_key", [address for _, address in ranked])
        order: dict[object, list[tuple[float, DocAddress]]] = {}
        for (score, address), key in zip(ranked, keys, strict=True):
            order.setdefault(key, []).append((score, address))
        complete = len(ranked) < top
        if len(order) >= wanted or complete:
            break
        if top >= MAX_GROUPED_PAGES:  # one document fills the top: group every match
            counted = searcher.search(matcher, 1, count=True)
            top = counted.count + 1  # type: ignore[attr-defined]  # missing from the stub
        else:
            top *= 4
    chosen = list(order.values())[query.offset : query.offset + query.limit]
    if not complete:
        chosen = _best_pages(searcher, query, chosen, per_document)
    marks = include_stems(query)
    hits = []
    for pages in chosen:
        page_hits = [_hit(searcher, a, s, marks) for s, a in pages[:per_document]]
        hits.append(DocumentHit(page_hits[0].document_id, page_hits[0].title, page_hits))
    return DocumentHitPage(hits=hits, has_more=len(order) > query.offset + len(chosen))
