"""The shape of our document ids (uuid4 hex, as new_document_id makes them)."""

from __future__ import annotations

import re

# What requests may name as a document, and what logs may carry from a path.
DOCUMENT_ID_PATTERN = r"^[0-9a-f]{32}$"
DOCUMENT_ID_LENGTH = 32


def is_document_id(value: str) -> bool:
    """Whether a string has the shape of our document ids."""
    return len(value) == DOCUMENT_ID_LENGTH and re.fullmatch(DOCUMENT_ID_PATTERN, value) is not None
