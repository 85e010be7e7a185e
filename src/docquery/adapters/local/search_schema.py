"""The Tantivy index's schema, its documents, and queries built from parsed search terms.

An index document is a passage of a page (today the whole page, passage 0) with its
document's id, owner, title, tags and time, and (stored) the record it was indexed from.
Nothing else is in the index: BM25 counts every index document in its statistics (the
number of documents, the average length of a field), so bookkeeping documents (a record per
document, say) would skew every score.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tantivy import Document, FieldType, Occur, Query, Schema, SchemaBuilder

from docquery.domain.documents import format_timestamp, parse_timestamp
from docquery.domain.search import Clause, SearchableDocument, SearchFilters, SearchQuery
from docquery.domain.uploads import fold_tag
from docquery.text.analysis import ANALYZER, indexable, stem

# BM25 weight of a title match, added to the body's. Tuned on SciFact's train split with
# bench/search_engines.py --quality (each abstract a document titled with its title, whose
# page shows the title too, as a PDF's first page does): nDCG@10 0.6917 at 0 (the title
# ignored), 0.6955 at 0.2, 0.6578 at 1, 0.6064 at 2. A title word still lifts a page above one
# that only mentions it once.
TITLE_BOOST = 0.2


def _schema() -> Schema:
    builder = SchemaBuilder()
    for name in ("owner", "document_id", "tags"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw")
    builder.add_integer_field("page", stored=True, indexed=True, fast=True)
    builder.add_integer_field("passage", stored=True, indexed=True)
    builder.add_unsigned_field("doc_key", fast=True)  # groups pages by document, unstored
    builder.add_integer_field("created", indexed=True, fast=True)  # microseconds since 1970
    builder.add_text_field("title", tokenizer_name=ANALYZER)
    builder.add_text_field("body", tokenizer_name=ANALYZER)
    # The original text, as given (the indexed fields hold it with spellings normalised).
    builder.add_bytes_field("text", stored=True)
    builder.add_bytes_field("record", stored=True)  # the document's title, tags, time: JSON
    return builder.build()


SCHEMA = _schema()


def doc_key(document_id: str) -> int:
    """A 63-bit number per document id, for grouping hits without reading stored fields."""
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest()) >> 1


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _record(document: SearchableDocument) -> bytes:
    record = {
        "title": document.title,
        "tags": list(document.tags),
        "created_at": format_timestamp(document.created_at),
    }
    return json.dumps(record).encode()  # ASCII: json escapes the rest


def read_record(owner: str, document_id: str, raw: bytes) -> SearchableDocument:
    record = json.loads(raw)
    return SearchableDocument(
        id=document_id,
        owner=owner,
        title=record["title"],
        tags=tuple(record["tags"]),
        created_at=parse_timestamp(record["created_at"]),
    )


@dataclass(frozen=True, slots=True)
class StoredPassage:
    page: int
    passage: int
    text: str


def passage_document(document: SearchableDocument, passage: StoredPassage) -> Document:
    doc = Document()
    doc.add_text("owner", document.owner)
    doc.add_text("document_id", document.id)
    doc.add_integer("page", passage.page)
    doc.add_integer("passage", passage.passage)
    doc.add_unsigned("doc_key", doc_key(document.id))
    doc.add_integer("created", _micros(document.created_at))
    for tag in sorted({fold_tag(tag) for tag in document.tags}):
        doc.add_text("tags", tag)  # casefolded: filters match in any case
    doc.add_text("title", indexable(document.title))
    doc.add_text("body", indexable(passage.text))
    doc.add_bytes("text", passage.text.encode("utf-8", "surrogatepass"))  # as given
    doc.add_bytes("record", _record(document))  # its title and tags, for hits and edits
    return doc


def stored(doc: Document, name: str) -> Any:
    """A stored field's value; KeyError if the index document has none."""
    value = doc.get_first(name)
    if value is None:
        raise KeyError(name)
    return value


def stems(clause: Clause) -> tuple[str, ...]:
    return tuple(stem(token) for token in clause.tokens)


def _field_query(field: str, clause: Clause) -> Query:
    words = list(stems(clause))
    if len(words) == 1:
        return Query.term_query(SCHEMA, field, words[0])
    return Query.phrase_query(SCHEMA, field, words)  # type: ignore[arg-type]


def _clause_query(clause: Clause) -> Query:
    title = Query.boost_query(_field_query("title", clause), TITLE_BOOST)
    return Query.boolean_query(
        [(Occur.Should, title), (Occur.Should, _field_query("body", clause))]
    )


def _filter(query: Query) -> tuple[Occur, Query]:
    # A filter decides what matches and adds nothing to the score.
    return Occur.Must, Query.const_score_query(query, 0.0)


def filters(owner: str, given: SearchFilters) -> list[tuple[Occur, Query]]:
    """Must clauses for the owner (on every query) and the request's filters."""
    clauses = [_filter(Query.term_query(SCHEMA, "owner", owner))]
    if given.document_ids is not None:
        ids = Query.term_set_query(SCHEMA, "document_id", list(given.document_ids))
        clauses.append(_filter(ids))
    for tag in given.tags or ():
        clauses.append(_filter(Query.term_query(SCHEMA, "tags", fold_tag(tag))))
    after, before = given.created_after, given.created_before
    if after is not None or before is not None:
        created = Query.range_query(
            SCHEMA,
            "created",
            FieldType.Integer,
            _micros(after) if after is not None else None,
            _micros(before) if before is not None else None,
            # Exclusive bounds; an absent bound must be given as inclusive.
            include_lower=after is None,
            include_upper=before is None,
        )
        clauses.append(_filter(created))
    return clauses


def search_query(query: SearchQuery, *, document_id: str | None = None) -> Query:
    """Pages of the owner matching any include clause and no exclude clause (and filters)."""
    include = Query.boolean_query(
        [(Occur.Should, _clause_query(clause)) for clause in query.terms.include]
    )
    clauses: list[tuple[Occur, Query]] = [
        (Occur.Must, include),
        *filters(query.owner, query.filters),
    ]
    clauses += [(Occur.MustNot, _clause_query(clause)) for clause in query.terms.exclude]
    if document_id is not None:
        clauses.append(_filter(Query.term_query(SCHEMA, "document_id", document_id)))
    return Query.boolean_query(clauses)


def include_stems(query: SearchQuery) -> list[tuple[str, ...]]:
    """What snippets mark: the stems of every include clause."""
    return [stems(clause) for clause in query.terms.include]


def search_term(document_id: str) -> Query:
    """The document's passages and record."""
    return Query.term_query(SCHEMA, "document_id", document_id)


def pages_of(documents: Sequence[str]) -> Query:
    """Every passage (and record) of these documents."""
    return Query.term_set_query(SCHEMA, "document_id", list(documents))
