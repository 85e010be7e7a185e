"""What `docquery ingest` found and did, and how it shows it on the operator's terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TextIO

_MB = 1_000_000
_BAR_WIDTH = 10


class Outcome(StrEnum):
    UPLOADED = "uploaded"
    DUPLICATE = "duplicate"
    # Already uploaded, and the tags given were added to the existing document.
    TAGGED = "duplicate, tagged"
    # In a folder, but not a PDF: never sent.
    SKIPPED = "skipped"
    REJECTED = "rejected"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


# Wide enough for every outcome, so that columns line up.
_WIDTH = max(len(outcome) for outcome in Outcome)
# Files listed, with their reasons, below the counts.
_LISTED = (Outcome.SKIPPED, Outcome.REJECTED, Outcome.FAILED)


@dataclass(frozen=True)
class FileResult:
    """What happened to one local file; reason is `code: detail` for those not uploaded."""

    path: Path
    outcome: Outcome
    size: int = 0
    document_id: str | None = None
    reason: str = ""


@dataclass
class IngestReport:
    """Every file's result in collection order, and why the run stopped early, if it did."""

    results: list[FileResult] = field(default_factory=list)
    stopped: str | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def ok(self) -> bool:
        bad = (Outcome.REJECTED, Outcome.FAILED, Outcome.NOT_ATTEMPTED)
        return self.stopped is None and not any(r.outcome in bad for r in self.results)


class Progress:
    """A one-line bar redrawn with `\\r` on a terminal; one line per file otherwise (CI logs)."""

    def __init__(self, stream: TextIO | None, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = (stream is not None and stream.isatty()) if tty is None else tty
        self._files = self._done = self._bytes = self._done_bytes = 0

    def start(self, *, files: int, total_bytes: int) -> None:
        self._files, self._bytes = files, total_bytes

    def advance(self, result: FileResult) -> None:
        self._done += 1
        self._done_bytes += result.size
        if self._tty:
            filled = _BAR_WIDTH * self._done // max(self._files, 1)
            bar = "#" * filled + " " * (_BAR_WIDTH - filled)
            self._write(
                f"\r[{bar}] {self._done}/{self._files} files, "
                f"{self._done_bytes / _MB:.1f}/{self._bytes / _MB:.1f} MB"
            )
        else:
            reason = f"  {printable(result.reason)}" if result.reason else ""
            line = (
                f"[{self._done}/{self._files}] {result.outcome:<{_WIDTH}} {printable(result.path)}"
            )
            self._write(f"{line}{reason}\n")

    def finish(self) -> None:
        if self._tty and self._done:
            self._write("\n")

    def _write(self, text: str) -> None:
        if self._stream is not None:
            self._stream.write(text)
            self._stream.flush()


def write_summary(report: IngestReport, out: TextIO) -> None:
    """Counts per outcome, one row per skipped, rejected or failed file, then the total."""
    for outcome in Outcome:
        out.write(f"{outcome:<{_WIDTH}}{report.count(outcome):>6}\n")
    listed = [r for r in report.results if r.outcome in _LISTED]
    if listed:
        width = max(len(printable(r.path)) for r in listed)
        out.write("\n")
        for r in listed:
            out.write(f"{r.outcome:<9} {printable(r.path):<{width}}  {printable(r.reason)}\n")
    # Every file the progress counted, whatever became of it: the counts above add up to it.
    count, total = len(report.results), sum(r.size for r in report.results)
    plural = "" if count == 1 else "s"
    out.write(f"\ntotal: {count} file{plural}, {total / _MB:.1f} MB ({total:,} bytes)\n")


def printable(text: object) -> str:
    # File names and server details may hold control characters; never let them drive the tty.
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
