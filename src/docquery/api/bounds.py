"""Bounds on what clients send: every string and list has one, checked before any work."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from docquery.domain.ids import DOCUMENT_ID_LENGTH, DOCUMENT_ID_PATTERN
from docquery.domain.uploads import MAX_TAG_LENGTH

# A tag is at most MAX_TAG_LENGTH once cleaned; its raw form may carry the whitespace and
# invisible characters cleaning removes, or (PATCH) a few tags separated by commas.
MAX_TAG_INPUT_LENGTH = 4 * MAX_TAG_LENGTH
MAX_CURSOR_LENGTH = 1024

DocumentIdIn = Annotated[
    str, StringConstraints(max_length=DOCUMENT_ID_LENGTH, pattern=DOCUMENT_ID_PATTERN)
]
TagIn = Annotated[str, StringConstraints(max_length=MAX_TAG_INPUT_LENGTH)]
