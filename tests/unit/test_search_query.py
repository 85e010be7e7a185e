"""The search box: parsing, and what parsed queries match in a real (Tantivy) index."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.processing import Page as IndexPage
from docquery.domain.search import (
    Clause,
    SearchableDocument,
    SearchFilters,
    SearchQuery,
    SearchTerms,
)
from docquery.errors import InvalidQuery
from docquery.services.search_query import MAX_CLAUSES, MAX_QUERY_CHARS, parse_query, tokenize

PAGES = [
    ("sepsis", 1, "Sepsis bundle", "Early antibiotics reduce mortality in sepsis."),
    ("sepsis", 2, "", "Lactate and fluids in septic shock; antibiotics within one hour."),
    ("covid", 1, "COVID-19 outcomes", "Patients with COVID-19 received dexamethasone."),
    ("covid", 2, "", "The covid wards were full."),
    ("cardio", 1, "", "Heart failure with reduced ejection fraction."),
    ("cardio", 2, "", "Failure of the heart valve."),
    ("derm", 1, "", "Cafe au lait spots and naïve T cells."),
    ("immuno", 1, "", "IL-6 levels rise in cytokine release syndrome."),
]
CREATED = datetime(2026, 1, 1, tzinfo=UTC)

Page = tuple[str, int]


@pytest.fixture(scope="module")
async def index(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TantivySearchIndex]:
    """Each page a document of its own (titles are per document), numbered as in PAGES."""
    index = TantivySearchIndex(tmp_path_factory.mktemp("search"))
    await index.open()
    for name, page, title, body in PAGES:
        document = SearchableDocument(f"{name}:{page}", "alice", title, (), CREATED)
        await index.replace(document, [IndexPage(page, body)])
    yield index
    await index.close()


async def search(index: TantivySearchIndex, query: str) -> list[Page]:
    terms = parse_query(query)
    found = await index.search(SearchQuery("alice", terms, SearchFilters(), limit=50))
    return [(hit.document_id.split(":")[0], hit.page) for hit in found.hits]


def clauses(*phrases: str) -> tuple[Clause, ...]:
    return tuple(Clause(tuple(phrase.split())) for phrase in phrases)


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "include", "exclude"),
    [
        ("sepsis", ["sepsis"], []),
        ("  Sepsis\tSHOCK\n", ["sepsis", "shock"], []),
        ('"septic shock"', ["septic shock"], []),
        ('fever "septic shock" lactate', ["fever", "septic shock", "lactate"], []),
        ('"septic shock', ["septic shock"], []),  # unbalanced: the rest is the phrase
        ('fever "septic shock', ["fever", "septic shock"], []),
        ('foo"bar baz"', ["foo", "bar baz"], []),
        ("covid-19", ["covid 19"], []),
        ("IL-6", ["il 6"], []),
        ("e.coli", ["e coli"], []),
        ("5-HT", ["5 ht"], []),
        ("fever -aspirin", ["fever"], ["aspirin"]),
        ('fever -"septic shock" -aspirin', ["fever"], ["septic shock", "aspirin"]),
        ("fever -covid-19", ["fever"], ["covid 19"]),
        ("fever - aspirin", ["fever", "aspirin"], []),  # a lone dash excludes nothing
        ("--x", ["x"], []),  # only a single dash is an exclusion
        ("x-ray", ["x ray"], []),
        ("café", ["cafe"], []),
        ("CAFÉ", ["cafe"], []),
        ("cafe\u0301", ["cafe"], []),  # decomposed accent, as macOS and some PDFs write it
        ("Ångström naïve Straße", ["angstrom", "naive", "strasse"], []),  # folded to ASCII
        ("Σίσυφος", ["σίσυφος"], []),  # lowercased; Greek accents kept
        (
            "\uff21\uff22\uff23",
            ["abc"],
            [],
        ),  # fullwidth letters fold to ASCII
        ("नमस्ते", ["नमस ते"], []),  # the virama separates tokens
        ("the heart of the matter", ["heart", "matter"], []),
        ('"the heart"', ["the heart"], []),  # stopwords stay inside phrases
        ('"the" heart', ["the", "heart"], []),
        ("it's", ["it s"], []),  # a phrase, not a stopword
        ("to be or not to be", ["to", "be", "or", "not"], []),  # all stopwords: keep them
        ("the -fever", ["the"], ["fever"]),
        ("fever -the", ["fever"], ["the"]),  # exclusions are explicit: no stopword removal
        ("sepsis AND dexamethasone", ["sepsis", "dexamethasone"], []),
        ("AND", ["and"], []),
        ("OR OR", ["or"], []),
        ("NEAR(a b)", ["near a", "b"], []),
        ("heart Heart HEART", ["heart"], []),
        ('heart "heart" "heart failure" heart-failure', ["heart", "heart failure"], []),
        ("x -y -y y", ["x", "y"], ["y"]),
    ],
)
def test_parse_query(text: str, include: list[str], exclude: list[str]) -> None:
    assert parse_query(text) == SearchTerms(clauses(*include), clauses(*exclude))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "!!!", "-", "- -", '"', '""', '"""', '" "', "-aspirin", '-"septic shock"', "()"],
)
def test_no_words_is_invalid(text: str) -> None:
    with pytest.raises(InvalidQuery, match="no words to search for"):
        parse_query(text)


def test_query_length_is_limited() -> None:
    text = ("w" * 39 + " ") * (MAX_QUERY_CHARS // 40)
    assert parse_query(text).include == clauses("w" * 39)
    with pytest.raises(InvalidQuery, match=str(MAX_QUERY_CHARS)):
        parse_query(text + "x")


def test_words_longer_than_the_index_keeps_are_dropped() -> None:
    # The index drops tokens over 40 bytes (hashes, base64): searching for one finds nothing.
    assert parse_query("w" * 41 + " fever").include == clauses("fever")
    with pytest.raises(InvalidQuery):
        parse_query("w" * 41)


def test_clauses_beyond_the_cap_are_dropped() -> None:
    words = [f"w{i}" for i in range(MAX_CLAUSES + 10)]
    assert parse_query(" ".join(words)).include == clauses(*words[:MAX_CLAUSES])

    mixed = " ".join(words[: MAX_CLAUSES - 1]) + " -x -y"
    terms = parse_query(mixed)
    assert (len(terms.include), terms.exclude) == (MAX_CLAUSES - 1, clauses("x"))


def test_cap_counts_clauses_after_dedupe_and_stopwords() -> None:
    words = [f"w{i}" for i in range(MAX_CLAUSES)]
    text = "the w0 " * 50 + " ".join(words)
    assert parse_query(text).include == clauses(*words)


@pytest.mark.parametrize(
    "text",
    [
        "covid-19 IL-6 e.coli 5-HT x_y don't a'b",
        "Café CAFE\u0301 naïve Ångström İstanbul Straße ẞ ǅ ǡ ǖ ø æ \u017f µ ς ϕ",
        "ﬁbrosis \uff21\uff22\uff23 ½ ² ① \u210c ⅻ",
        "Σίσυφος ПРИВЕТ йод ё мед",
        "中文字 가나다 ひらがな カタカナ",
        "نص عربي مرحبا أ إ آ",
        "नमस्ते ਪੰਜਾਬ",
        "😀 emoji 👍 \ue000private \u200bzero\u00adsoft",
        "a\u0301\u0308b \u0301lead trail\u0301 a\u0305b",
    ],
)
async def test_every_word_the_parser_sees_finds_the_page_it_is_on(
    tmp_path: Path, text: str
) -> None:
    index = TantivySearchIndex(tmp_path / "search")
    await index.open()
    try:
        await index.replace(SearchableDocument("d", "alice", "", (), CREATED), [IndexPage(1, text)])
        for word in tokenize(text):
            terms = SearchTerms((Clause((word,)),))
            found = await index.search(SearchQuery("alice", terms, SearchFilters(), limit=5))
            assert [hit.document_id for hit in found.hits] == ["d"], word
    finally:
        await index.close()


# -- what queries match ----------------------------------------------------------------------


async def test_any_word_matches_not_all(index: TantivySearchIndex) -> None:
    assert set(await search(index, "sepsis dexamethasone")) == {("sepsis", 1), ("covid", 1)}
    assert set(await search(index, "sepsis AND dexamethasone")) == {("sepsis", 1), ("covid", 1)}


async def test_pages_with_more_words_rank_first(index: TantivySearchIndex) -> None:
    hits = await search(index, "antibiotics mortality sepsis")
    assert hits[0] == ("sepsis", 1)
    assert ("sepsis", 2) in hits  # it holds only "antibiotics"


async def test_phrase_matches_in_order(index: TantivySearchIndex) -> None:
    assert await search(index, '"heart failure"') == [("cardio", 1)]
    assert set(await search(index, "heart failure")) == {("cardio", 1), ("cardio", 2)}


async def test_exclusions_remove_pages(index: TantivySearchIndex) -> None:
    assert await search(index, "covid -dexamethasone") == [("covid", 2)]
    assert await search(index, 'heart -"reduced ejection"') == [("cardio", 2)]


async def test_hyphenated_word_is_a_phrase(index: TantivySearchIndex) -> None:
    assert await search(index, "covid-19") == [("covid", 1)]
    assert await search(index, "il-6") == [("immuno", 1)]


async def test_diacritics_do_not_matter(index: TantivySearchIndex) -> None:
    assert await search(index, "café") == [("derm", 1)]
    assert await search(index, "NAIVE") == [("derm", 1)]


async def test_operators_typed_by_users_are_words(index: TantivySearchIndex) -> None:
    assert await search(index, "NOT sepsis") == await search(index, "sepsis")
    assert await search(index, "title:covid") == await search(index, '"title covid"') == []


# -- safety ----------------------------------------------------------------------------------

NASTY = [
    "AND",
    "OR OR",
    "NOT",
    "a NOT b",
    "NEAR(a b)",
    "NEAR(a b, 2)",
    "a + b",
    "title:foo",
    "{title body}: x",
    "- title : x",
    "foo*",
    "*",
    "^foo",
    '"',
    '"""',
    '""""',
    "(",
    ")",
    "a) OR (b",
    "((((a",
    "-",
    "--x",
    "-(a OR b)",
    "\x00",
    "a\x00b",
    '"a\x00',
    "\x01\x1f\x7f",
    "'; DROP TABLE search_fts; --",
    "{title}: x",
    "😀",
    "\U0001f469\u200d\u2695\ufe0f doctor",
    "\uff21\uff22\uff23",
    "مرحبا بالعالم",
    "\u202eRTL override\u202c",
    "\ud800 lone surrogate",
    "\ufeffbom",
    "a" * 5000,
    "a " * 999,
    '"' + "x " * 999,
]
ALPHABET = [
    *'"()*^:-+{}., \t\n\x00aAbZz09_éß中😀\u0301\u202e\ufeff\ud800',
    "NEAR",
    "AND",
    "OR",
    "NOT",
]


async def assert_safe(index: TantivySearchIndex, text: str) -> bool:
    """Assert `text` is refused as a query or searched for as words: no other error."""
    try:
        terms = parse_query(text)
    except InvalidQuery:
        return False
    await index.search(SearchQuery("alice", terms, SearchFilters(), limit=10))
    return True


@pytest.mark.parametrize("text", NASTY)
async def test_nasty_input_is_safe(index: TantivySearchIndex, text: str) -> None:
    if len(text) > MAX_QUERY_CHARS:
        with pytest.raises(InvalidQuery):
            parse_query(text)
    else:
        await assert_safe(index, text)


async def test_fuzzed_input_is_safe(index: TantivySearchIndex) -> None:
    rng = random.Random(20240611)  # noqa: S311 - a repeatable fuzz, not a secret
    texts = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 40))) for _ in range(3000)]
    texts += ["".join(rng.choices(ALPHABET, k=MAX_QUERY_CHARS)) for _ in range(20)]
    accepted = sum([await assert_safe(index, text) for text in texts])
    assert accepted > len(texts) // 2  # the fuzz mostly exercises real expressions
