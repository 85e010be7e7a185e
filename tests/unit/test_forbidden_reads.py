"""Tests carry or make their data: reading a forbidden folder fails the test that does it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.forbidden import FORBIDDEN_DIRS


@pytest.fixture
def forbidden(tmp_path: Path) -> Iterator[Path]:
    """A folder with a file in it, forbidden for this test (as the runner forbids the data)."""
    folder = tmp_path / "forbidden"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "notes.txt").write_text("not for tests")
    FORBIDDEN_DIRS.append(str(folder))
    yield folder
    FORBIDDEN_DIRS.remove(str(folder))


READS: dict[str, Callable[[Path], object]] = {
    "read_text": lambda folder: (folder / "data" / "notes.txt").read_text(),
    "listdir": lambda folder: os.listdir(folder / "data"),  # noqa: PTH208
    "scandir": lambda folder: os.scandir(folder / "data"),
    "glob": lambda folder: list((folder / "data").glob("*.txt")),
    "open-bytes": lambda folder: open(os.fsencode(folder / "data" / "notes.txt"), "rb").close(),  # noqa: PTH123
    "missing-file": lambda folder: (folder / "absent.txt").read_text(),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_reading_a_forbidden_folder_fails_the_test(forbidden: Path, name: str) -> None:
    with pytest.raises(AssertionError, match="must not read"):
        READS[name](forbidden)


def test_the_folder_beside_it_is_not_forbidden(forbidden: Path) -> None:
    sibling = forbidden.parent / f"{forbidden.name}-not"
    sibling.mkdir()
    (sibling / "ok.txt").write_text("fine")
    assert (sibling / "ok.txt").read_text() == "fine"


def test_the_sample_pdfs_live_in_the_tests_tree() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "pdfs"
    assert len(list(data.glob("*.pdf"))) == 5
    assert (data.parent / "README.md").read_text().count("CC-BY-SA-4.0") >= 1
