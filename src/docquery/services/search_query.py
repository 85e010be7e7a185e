"""The search box: user text to `SearchTerms`, and `SearchTerms` to an SQLite FTS5 MATCH expression.

Tokens are cut and folded the way the index's tokenizer (`unicode61 remove_diacritics 2`) does,
so that stopwords, duplicates and phrases are judged on what FTS5 will really see. Every token is
emitted as an FTS5 string literal: nothing a user types can become FTS5 syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from docquery.domain.search import Clause, SearchTerms
from docquery.errors import InvalidQuery

MAX_QUERY_CHARS = 2000
MAX_CLAUSES = 64

# Lucene EnglishAnalyzer's default stop set; one string reads better than 33 quoted words.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then"  # noqa: SIM905
    " there these they this to was will with".split()
)

# Combining marks FTS5 keeps inside a token and then drops (sqlite3Fts5UnicodeIsdiacritic).
_DIACRITICS = frozenset(
    chr(cp)
    for cp in (
        *range(0x300, 0x305),
        *range(0x306, 0x30D),
        0x30F,
        0x311,
        0x31B,
        *range(0x323, 0x329),
        0x32D,
        0x32E,
        0x330,
        0x331,
    )
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
    """Split and fold `text` into the tokens FTS5's unicode61 tokenizer would index."""
    tokens: list[str] = []
    current: list[str] = []
    for char in text:
        if _is_token_char(char):
            current.append(_fold(char))
        elif current and char in _DIACRITICS:
            continue  # FTS5 lets these continue a token, then removes them
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tuple(token for token in tokens if token)


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


def fts5_expression(terms: SearchTerms) -> str:
    """The FTS5 MATCH expression: any include clause, and none of the exclude clauses."""
    include = _any_of(terms.include)
    if not include:
        raise InvalidQuery("the query has no words to search for")
    exclude = _any_of(terms.exclude)
    return f"({include}) NOT ({exclude})" if exclude else f"({include})"


def _parts(text: str) -> Iterator[_Part]:
    for match in _PART.finditer(text):
        quoted = match["phrase"] is not None
        tokens = tokenize(match["phrase"] if quoted else match["word"])
        if tokens:
            yield _Part(Clause(tokens), negated=match["neg"] is not None, quoted=quoted)


def _is_stopword(part: _Part) -> bool:
    plain_word = not (part.quoted or part.negated or part.clause.is_phrase)
    return plain_word and part.clause.tokens[0] in STOPWORDS


def _any_of(clauses: tuple[Clause, ...]) -> str:
    return " OR ".join(_literal(c.tokens) for c in clauses if c.tokens)


def _literal(tokens: tuple[str, ...]) -> str:
    # A NUL would end the string early in FTS5's parser, leaving an unterminated literal.
    text = " ".join(tokens).replace("\x00", " ").replace('"', '""')
    return f'"{text}"'


def _is_token_char(char: str) -> bool:
    # sqlite's tables are Unicode 6.1 (hence "unicode61"): letters and case pairs added since then
    # (Cherokee lowercase, Georgian Mtavruli, new emoji) may be cut or folded differently.
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def _fold(char: str) -> str:
    # FTS5 folds case one character to one (final sigma to sigma, but ß stays ß): a simple fold.
    folded = char.casefold()
    return "".join(_strip_diacritic(c) for c in (folded if len(folded) == 1 else char.lower()))


def _strip_diacritic(char: str) -> str:
    if char in _DIACRITICS:
        return ""
    # remove_diacritics only maps Latin letters that decompose to an ASCII letter plus marks.
    code = ord(char)
    if code < 0x250 or 0x1E00 <= code < 0x1F00:
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        # sqlite's table leaves ǡ alone.
        if base.isascii() and marks and all(m in _DIACRITICS for m in marks) and char != "ǡ":
            return base
    return char
