"""What answers and their checks share: the not-found sentence and the form quotes compare in."""

from __future__ import annotations

import unicodedata

# The answer when nothing in the documents supports one; the model is asked to use it too.
NOT_FOUND_ANSWER = "I could not find support for an answer in the selected documents."


def normalise(text: str) -> str:
    """Compatibility forms (NFKC), every run of Unicode whitespace one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())
