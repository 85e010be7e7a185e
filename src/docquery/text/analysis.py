"""How search cuts text into words and words into stems: one definition for the index, the
query parser and the snippets, so that what a query asks for is what the index holds."""

from __future__ import annotations

from functools import lru_cache

from tantivy import Filter, TextAnalyzer, TextAnalyzerBuilder, Tokenizer

from docquery.text.spelling import normalise, uk_starts

# The name the index registers `stemming_analyzer()` under, for its title and body fields.
ANALYZER = "docquery_en"
# Longer tokens are dropped (base64, hashes, run-together junk), as Lucene's analyzers do.
MAX_TOKEN_BYTES = 40


def _builder() -> TextAnalyzerBuilder:
    return (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
    )


def stemming_analyzer() -> TextAnalyzer:
    """Words, lowercased, folded to ASCII and stemmed (Snowball English)."""
    return _builder().filter(Filter.stemmer("english")).build()


_WORDS = _builder().build()
_STEMS = stemming_analyzer()


def indexable(text: str) -> str:
    """`text` as the analyzer can take it: spellings normalised, lone surrogates (which no
    UTF-8 holds) replaced."""
    return normalise(text).encode("utf-8", "replace").decode("utf-8")


def words(text: str) -> tuple[str, ...]:
    """The folded, unstemmed words of `text` after spelling normalisation."""
    return tuple(_WORDS.analyze(indexable(text)))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The indexed form of one folded word."""
    stems = _STEMS.analyze(word)
    return stems[0] if len(stems) == 1 else word


@lru_cache(maxsize=200_000)
def stems_of(word: str) -> tuple[str, ...]:
    """The indexed forms of one word as it stands in a text (spelling normalised, folded)."""
    return tuple(_STEMS.analyze(indexable(word)))


class Words:
    """A text's words: their indexed forms, and where each stands in the text."""

    def __init__(self, text: str) -> None:
        clean = text.encode("utf-8", "replace").decode("utf-8")  # same length: one char each
        self._tokens = _STEMS.pre_tokenize(clean).tokens
        self.keys = [token.text for token in self._tokens]
        starts = uk_starts()
        for i, key in enumerate(self.keys):
            if key[:3] in starts:  # perhaps spelt the UK way: pre_tokenize does not normalise
                start, end = self.span(i)
                stems = stems_of(text[start:end])
                self.keys[i] = stems[0] if len(stems) == 1 else " ".join(stems)

    def span(self, i: int) -> tuple[int, int]:
        token = self._tokens[i]
        return token.char_offset_from, token.char_offset_to


def words_of(text: str) -> Words:
    return Words(text)
