"""The search box's parser now lives in docquery.text.query (adapters use it too)."""

from docquery.text.query import MAX_CLAUSES, MAX_QUERY_CHARS, STOPWORDS, parse_query, tokenize

__all__ = ["MAX_CLAUSES", "MAX_QUERY_CHARS", "STOPWORDS", "parse_query", "tokenize"]
