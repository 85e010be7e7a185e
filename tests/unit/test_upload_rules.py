"""File names, titles and tags: display metadata cleaned of anything dangerous."""

from __future__ import annotations

import pytest

from docquery.domain.uploads import (
    DEFAULT_FILENAME,
    clean_filename,
    file_extension,
    parse_tags,
    parse_title,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\x\\scan.pdf", "scan.pdf"),
        ("bad\x00name.pdf", "badname.pdf"),
        ("line\r\nbreak.pdf", "line break.pdf"),
        ("invoice\u202efdp.exe.pdf", "invoicefdp.exe.pdf"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("résumé 🩺.pdf", "résumé 🩺.pdf"),
        ("", DEFAULT_FILENAME),
        (None, DEFAULT_FILENAME),
        ("../..", DEFAULT_FILENAME),
    ],
)
def test_clean_filename(raw: str | None, expected: str) -> None:
    assert clean_filename(raw) == expected


def test_long_filename_is_cut_but_keeps_its_extension() -> None:
    name = clean_filename("a" * 10_000 + ".pdf")
    assert len(name) == 255
    assert name.endswith(".pdf")
    assert file_extension(name) == ".pdf"


def test_tags_are_trimmed_deduplicated_and_bounded() -> None:
    assert parse_tags(["lab, ICU ,lab", " ", "cardio\tlogy"]) == ("lab", "ICU", "cardio logy")
    with pytest.raises(ValueError, match="longer than"):
        parse_tags(["x" * 65])
    with pytest.raises(ValueError, match="more than 50"):
        parse_tags([",".join(f"t{n}" for n in range(51))])


def test_title_defaults_to_file_stem_and_is_bounded() -> None:
    assert parse_title(None, filename="CBC panel.pdf") == "CBC panel"
    assert parse_title("  Chest\nX-ray  ", filename="x.pdf") == "Chest X-ray"
    with pytest.raises(ValueError, match="longer than 500"):
        parse_title("t" * 501, filename="x.pdf")
