"""The guard on what tests read: a fresh clone has only the repository.

Imported by tests/conftest.py, so it is installed before any test runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# Folders no test may read (os.pathsep-separated): `scripts/dev.py test`, the README's test
# command, names the benchmarks' data beside the clone, which a fresh clone does not have. Any
# open or listing of a path in one fails the test that made it (tests/data/README.md says where
# test data comes from instead); tests add their own entries to check the guard.
FORBIDDEN_DIRS = [
    os.path.abspath(entry)  # noqa: PTH100 - plain strings, compared on every file event
    for entry in os.environ.get("DOCQUERY_TESTS_FORBIDDEN_DIRS", "").split(os.pathsep)
    if entry
]
_WATCHED_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


class ForbiddenRead(AssertionError):
    """A test touched data that a fresh clone does not have."""


def _refuse_forbidden(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED_EVENTS or not args or not isinstance(args[0], str | bytes | Path):
        return
    # A string operation: Path.resolve() here would raise audit events of its own.
    path = os.path.abspath(os.fsdecode(args[0]))  # noqa: PTH100
    for folder in FORBIDDEN_DIRS:
        if path == folder or path.startswith(f"{folder}{os.sep}"):
            # Not an OSError: pathlib's glob swallows PermissionError and would find nothing.
            raise ForbiddenRead(f"tests must not read {folder}: generate data or use tests/data")


sys.addaudithook(_refuse_forbidden)
