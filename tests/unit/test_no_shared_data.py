"""Tests carry or make their data: the benchmarks' folder beside the clone is out of bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


@pytest.mark.parametrize(
    "read",
    [
        lambda: (SHARED / "data" / "README.md").read_text(),
        lambda: os.listdir(SHARED / "data"),  # noqa: PTH208
        # Path.glob stats the folder first and finds nothing where it is missing (a fresh clone,
        # or CI's hidden copy); os.scandir is what it then calls.
        lambda: os.scandir(SHARED / "data" / "pdfs"),
        lambda: open(os.fsencode(SHARED / "DESIGN.md"), "rb").close(),  # noqa: PTH123
    ],
    ids=["read_text", "listdir", "scandir", "open-bytes"],
)
def test_reading_the_shared_folder_fails_the_test(read: object) -> None:
    assert callable(read)
    with pytest.raises(AssertionError, match="must not read"):
        read()


def test_the_sample_pdfs_live_in_the_tests_tree() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "pdfs"
    assert len(list(data.glob("*.pdf"))) == 5
    assert (data.parent / "README.md").read_text().count("CC-BY-SA-4.0") >= 1
