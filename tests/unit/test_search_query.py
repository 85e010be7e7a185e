"""The search box: parsing, the FTS5 expression, and what it matches in a real FTS5 index."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator

import pytest

from docquery.domain.search import Clause, SearchTerms
from docquery.errors import InvalidQuery
from docquery.services.search_query import (
    MAX_CLAUSES,
    MAX_QUERY_CHARS,
    fts5_expression,
    parse_query,
    tokenize,
)

# The index's DDL and ranking, as the SQLite search store writes them.
DDL = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, document_id UNINDEXED, page UNINDEXED,"
    " tokenize = 'porter unicode61 remove_diacritics 2')"
)
SEARCH = (
    "SELECT document_id, page FROM search_fts WHERE search_fts MATCH :expr"
    " ORDER BY bm25(search_fts, 4.0, 1.0)"
)
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

Page = tuple[str, int]


@pytest.fixture(scope="module")
def index() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(DDL)
    conn.executemany(
        "INSERT INTO search_fts (document_id, page, title, body) VALUES (?, ?, ?, ?)", PAGES
    )
    yield conn
    conn.close()


def search(index: sqlite3.Connection, query: str) -> list[Page]:
    rows = index.execute(SEARCH, {"expr": fts5_expression(parse_query(query))})
    return [(document_id, page) for document_id, page in rows]


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
        ("Ångström naïve Straße", ["angstrom", "naive", "straße"], []),
        ("Σίσυφος", ["σίσυφοσ"], []),  # FTS5 folds case but keeps Greek accents
        (
            "\uff21\uff22\uff23",
            ["\uff41\uff42\uff43"],
            [],
        ),  # no NFKD: FTS5 indexes fullwidth letters as they are
        ("नमस्ते", ["नमस त"], []),  # the virama separates tokens in FTS5
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
    assert parse_query("a" * MAX_QUERY_CHARS).include == clauses("a" * MAX_QUERY_CHARS)
    with pytest.raises(InvalidQuery, match=str(MAX_QUERY_CHARS)):
        parse_query("a" * (MAX_QUERY_CHARS + 1))


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
def test_tokens_agree_with_fts5(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')"
        )
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        conn.execute("INSERT INTO t (x) VALUES (?)", (text,))
        indexed = tuple(term for (term,) in conn.execute("SELECT term FROM v ORDER BY offset"))
    finally:
        conn.close()
    assert tokenize(text) == indexed


# -- the expression --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (SearchTerms(clauses("sepsis")), '("sepsis")'),
        (SearchTerms(clauses("sepsis", "septic shock")), '("sepsis" OR "septic shock")'),
        (SearchTerms(clauses("a"), clauses("x")), '("a") NOT ("x")'),
        (SearchTerms(clauses("a", "b"), clauses("x", "y z")), '("a" OR "b") NOT ("x" OR "y z")'),
        (SearchTerms((Clause(('say "hi"',)),)), '("say ""hi""")'),  # built by hand, not parsed
        (SearchTerms((Clause(("a\x00b",)),)), '("a b")'),
    ],
)
def test_fts5_expression(terms: SearchTerms, expected: str) -> None:
    assert fts5_expression(terms) == expected


def test_expression_needs_an_include_clause() -> None:
    with pytest.raises(InvalidQuery):
        fts5_expression(SearchTerms((), clauses("x")))


def test_words_are_joined_with_or() -> None:
    assert fts5_expression(parse_query("sepsis dexamethasone")) == '("sepsis" OR "dexamethasone")'


# -- what the expression matches -------------------------------------------------------------


def test_any_word_matches_not_all(index: sqlite3.Connection) -> None:
    # Guards against FTS5's implicit AND: each page holds only one of the two words.
    assert set(search(index, "sepsis dexamethasone")) == {("sepsis", 1), ("covid", 1)}
    assert set(search(index, "sepsis AND dexamethasone")) == {("sepsis", 1), ("covid", 1)}


def test_pages_with_more_words_rank_first(index: sqlite3.Connection) -> None:
    hits = search(index, "antibiotics mortality sepsis")
    assert hits[0] == ("sepsis", 1)
    assert ("sepsis", 2) in hits  # it holds only "antibiotics"


def test_phrase_matches_in_order(index: sqlite3.Connection) -> None:
    assert search(index, '"heart failure"') == [("cardio", 1)]
    assert set(search(index, "heart failure")) == {("cardio", 1), ("cardio", 2)}


def test_exclusions_remove_pages(index: sqlite3.Connection) -> None:
    assert search(index, "covid -dexamethasone") == [("covid", 2)]
    assert search(index, 'heart -"reduced ejection"') == [("cardio", 2)]


def test_hyphenated_word_is_a_phrase(index: sqlite3.Connection) -> None:
    assert search(index, "covid-19") == [("covid", 1)]
    assert search(index, "il-6") == [("immuno", 1)]


def test_diacritics_do_not_matter(index: sqlite3.Connection) -> None:
    assert search(index, "café") == [("derm", 1)]
    assert search(index, "NAIVE") == [("derm", 1)]


def test_operators_typed_by_users_are_words(index: sqlite3.Connection) -> None:
    assert search(index, "NOT sepsis") == search(index, "sepsis")
    assert search(index, "title:covid") == search(index, '"title covid"') == []


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
LITERAL = re.compile(r'"(?:[^"]|"")*"')
SYNTAX = re.compile(r"[() ]|OR|NOT")  # all that is left once the literals are removed


def assert_safe(index: sqlite3.Connection, text: str) -> bool:
    """Assert `text` is refused as a query or becomes literals joined by our own operators."""
    try:
        expression = fts5_expression(parse_query(text))
    except InvalidQuery:
        return False
    assert SYNTAX.sub("", LITERAL.sub("", expression)) == ""
    index.execute(SEARCH, {"expr": expression}).fetchall()  # any sqlite3.Error fails the test
    return True


@pytest.mark.parametrize("text", NASTY)
def test_nasty_input_is_safe(index: sqlite3.Connection, text: str) -> None:
    if len(text) > MAX_QUERY_CHARS:
        with pytest.raises(InvalidQuery):
            parse_query(text)
    else:
        assert_safe(index, text)


def test_fuzzed_input_is_safe(index: sqlite3.Connection) -> None:
    rng = random.Random(20240611)  # noqa: S311 - a repeatable fuzz, not a secret
    texts = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 40))) for _ in range(3000)]
    texts += ["".join(rng.choices(ALPHABET, k=MAX_QUERY_CHARS)) for _ in range(20)]
    accepted = sum(assert_safe(index, text) for text in texts)
    assert accepted > len(texts) // 2  # the fuzz mostly exercises real expressions
