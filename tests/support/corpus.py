"""A generated library of abstract-like texts: many pages, Zipf-like word frequencies, and the
clinical words and phrases the search tests query, each in some pages and not in others."""

from __future__ import annotations

import random

# Words and phrases the tests ask for, each drawn into a share of the sentences.
TOPICAL = (
    "stem cells",
    "differentiate",
    "vitamin D",
    "deficiency",
    "increases the risk",
    "blood pressure",
    "mice",
    "inflammation",
    "patients",
    "cohort",
)
FUNCTION_WORDS = ("the", "of", "and", "in", "a", "to", "with", "was", "for", "by")
SYLLABLES = ("ka", "lo", "ri", "men", "tu", "sel", "po", "dra", "vin", "ex", "ol", "cy", "ter")


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def abstracts(count: int, *, seed: int = 7, sentences: int = 6) -> list[str]:
    """`count` texts of a title line and a few sentences; the same seed gives the same texts."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    vocabulary = _vocabulary(rng, 3000)
    # Rank r is drawn with weight 1/r: a few words are everywhere, most are rare.
    weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]
    texts = []
    for _ in range(count):
        lines = []
        for _ in range(sentences):
            words = rng.choices(vocabulary, weights, k=rng.randint(8, 18))
            words += rng.choices(FUNCTION_WORDS, k=rng.randint(2, 5))
            words += [topic for topic in TOPICAL if rng.random() < 0.08]
            rng.shuffle(words)
            lines.append(" ".join(words).capitalize() + ".")
        title = " ".join(rng.choices(vocabulary, weights, k=5)).title()
        texts.append(f"{title}\n\n{' '.join(lines)}")
    return texts
