"""UK and US spellings find each other, both ways, in the index; snippets mark the page's own
spelling. One case per entry of text/spelling_variants.tsv."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.processing import Page
from docquery.domain.search import SearchableDocument, SearchFilters, SearchQuery
from docquery.text.query import parse_query
from docquery.text.spelling import Variant, normalise, variants

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def index(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TantivySearchIndex]:
    """A page per example word, UK and US, each in a document of its own."""
    index = TantivySearchIndex(tmp_path_factory.mktemp("spelling"))
    await index.open()
    for n, variant in enumerate(variants()):
        for side, word in (("uk", variant.example_uk), ("us", variant.example_us)):
            document = SearchableDocument(f"{side}{n}", "alice", "Note", (), CREATED)
            await index.replace(document, [Page(1, f"Seen today: {word.capitalize()} noted.")])
    yield index
    await index.close()


def test_the_list_is_not_empty_and_every_example_is_a_form_of_its_entry() -> None:
    assert len(variants()) >= 30
    for variant in variants():
        assert variant.example_uk.lower().startswith(variant.uk), variant
        assert variant.example_us.lower().startswith(variant.us), variant
        assert normalise(variant.example_uk).lower() == variant.example_us.lower(), variant


@pytest.mark.parametrize("variant", variants(), ids=lambda v: f"{v.uk}-{v.us}")
async def test_each_spelling_finds_the_other(index: TantivySearchIndex, variant: Variant) -> None:
    n = variants().index(variant)
    for word in (variant.example_uk, variant.example_us, variant.example_uk.upper()):
        query = SearchQuery("alice", parse_query(word), SearchFilters(), limit=50)
        hits = {hit.document_id: hit.snippet for hit in (await index.search(query)).hits}
        assert {f"uk{n}", f"us{n}"} <= set(hits), word
        # Each page keeps its own spelling, marked.
        assert f"<mark>{variant.example_uk.capitalize()}</mark>" in hits[f"uk{n}"]
        assert f"<mark>{variant.example_us.capitalize()}</mark>" in hits[f"us{n}"]


def test_only_word_starts_and_whole_words_are_rewritten() -> None:
    assert normalise("prehaem") == "prehaem"  # haem* is a word start
    assert normalise("ageingx") == "ageingx"  # ageing is a whole word
    assert normalise("Hæmoglobin, ŒDEMA").lower() == "hemoglobin, edema"  # ligatures too
