"""What an upload is made of as it arrives, and the rules it must meet."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

PDF_SIGNATURE = b"%PDF-"
MAX_TITLE_LENGTH = 500
MAX_FILENAME_LENGTH = 255
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
DEFAULT_FILENAME = "document.pdf"


@dataclass(frozen=True, slots=True)
class FileStarted:
    """The file part's headers have arrived."""

    filename: str | None


@dataclass(frozen=True, slots=True)
class FileChunk:
    data: bytes


@dataclass(frozen=True, slots=True)
class FileEnded:
    pass


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    value: str


UploadEvent = FileStarted | FileChunk | FileEnded | FormField


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    max_file_size: int
    allowed_extensions: tuple[str, ...]


def clean_text(value: str) -> str:
    """NFC-normalised single-line text: whitespace folded to one space; control, format
    (bidi overrides, zero-width) and unassigned characters removed."""
    kept = (
        " " if ch.isspace() else ch
        for ch in unicodedata.normalize("NFC", value)
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join("".join(kept).split())


def clean_filename(raw: str | None) -> str:
    """A display-only file name: last path segment, no control characters, bounded length."""
    name = clean_text((raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if not name:
        return DEFAULT_FILENAME
    if len(name) > MAX_FILENAME_LENGTH:
        suffix = PurePath(name).suffix[:16]
        name = name[: MAX_FILENAME_LENGTH - len(suffix)] + suffix
    return name


def file_extension(filename: str) -> str:
    return PurePath(filename).suffix.lower()


def fold_tag(tag: str) -> str:
    """The form tags are compared in: `Cardiology`, `CARDIOLOGY` and `cardiology` are one tag."""
    return tag.casefold()


def unique_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags without repeats, case-insensitively; the first spelling of each is kept."""
    kept: dict[str, str] = {}
    for tag in tags:
        kept.setdefault(fold_tag(tag), tag)
    return tuple(kept.values())


def parse_tags(values: list[str]) -> tuple[str, ...]:
    """Tags from repeated or comma-separated values, trimmed, de-duplicated, order kept."""
    tags: list[str] = []
    for value in values:
        for raw in value.split(","):
            tag = clean_text(raw)
            if not tag:
                continue
            if len(tag) > MAX_TAG_LENGTH:
                raise ValueError(f"a tag is longer than {MAX_TAG_LENGTH} characters")
            tags.append(tag)
    unique = unique_tags(tags)
    if len(unique) > MAX_TAGS:
        raise ValueError(f"more than {MAX_TAGS} tags")
    return unique


def parse_title(value: str | None, *, filename: str) -> str:
    title = clean_text(value or "")
    if len(title) > MAX_TITLE_LENGTH:
        raise ValueError(f"title is longer than {MAX_TITLE_LENGTH} characters")
    return title or PurePath(filename).stem or filename
