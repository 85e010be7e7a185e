"""The search box: user text to `SearchTerms` of folded words, never to query syntax.

Words are cut and folded by the index's own analyzer (text.analysis), so that stopwords,
duplicates and phrases are judged on what the index really holds. Nothing a user types is
parsed by a query language: clauses become term and phrase queries in the adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from docquery.domain.search import Clause, SearchTerms
from docquery.errors import InvalidQuery
from docquery.text.analysis import words

MAX_QUERY_CHARS = 2000
MAX_CLAUSES = 64

# Lucene EnglishAnalyzer's default stop set; one string reads better than 33 quoted words.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then"  # noqa: SIM905
    " there these they this to was will with".split()
)

# An optional `-` (only at the start of a chunk, right before a word or quote), then a quoted
# phrase (an unbalanced quote runs to the end) or a word (a run up to whitespace or a quote).
_PART = re.compile(r'(?P<neg>(?<!\S)-(?=[^\s-]))?(?:"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+))')


@dataclass(frozen=True, slots=True)
class _Part:
    clause: Clause
    negated: bool
    quoted: bool


def tokenize(text: str) -> tuple[str, ...]:
    """The folded words of `text`, as the index cuts them (before stemming)."""
    return words(text)


def parse_query(text: str) -> SearchTerms:
    """Parse search-box text: words (any may match), "phrases", and -exclusions."""
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the query is longer than {MAX_QUERY_CHARS} characters")
    parts = list(_parts(text))
    content = [p for p in parts if not _is_stopword(p)]
    if any(not p.negated for p in content):
        parts = content  # keep stopwords only when they are all there is to search for
    kept = list(dict.fromkeys((p.negated, p.clause) for p in parts))[:MAX_CLAUSES]
    include = tuple(clause for negated, clause in kept if not negated)
    if not include:
        raise InvalidQuery("the query has no words to search for")
    return SearchTerms(include, tuple(clause for negated, clause in kept if negated))


def _parts(text: str) -> Iterator[_Part]:
    for match in _PART.finditer(text):
        quoted = match["phrase"] is not None
        tokens = tokenize(match["phrase"] if quoted else match["word"])
        if tokens:
            yield _Part(Clause(tokens), negated=match["neg"] is not None, quoted=quoted)


def _is_stopword(part: _Part) -> bool:
    plain_word = not (part.quoted or part.negated or part.clause.is_phrase)
    return plain_word and part.clause.tokens[0] in STOPWORDS
