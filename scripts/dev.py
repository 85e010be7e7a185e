#!/usr/bin/env python3
"""Set up and run docquery with nothing but Python: `python3 scripts/dev.py serve|test|lint`.

Creates `.venv` beside the project on first use, installs the project (pinned by
constraints.txt) and re-installs only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".docquery-installed"


def ensure_env(extra: str) -> None:
    """Create the virtualenv and install the project with the given extra, if not current."""
    if sys.version_info < (3, 11):  # noqa: UP036 - any python3 may run this script
        sys.exit("docquery needs Python 3.11 or newer")
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _fingerprint(extra)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    target = f".[{extra}]" if extra else "."
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", target)
    STAMP.write_text(wanted)


def _fingerprint(extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*command: object) -> None:
    subprocess.run([str(part) for part in command], cwd=ROOT, check=True)


def _exec(*command: object) -> int:
    return subprocess.call([str(part) for part in command], cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test", "lint", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    # One environment with the dev tools serves every command; serve needs only the runtime.
    ensure_env("dev" if command != "serve" or STAMP.exists() else "")
    if command == "serve":
        return _exec(BIN / "docquery", "serve", *rest)
    if command == "test":
        return _exec(PYTHON, "-m", "pytest", *rest)
    if command == "lint":
        return lint()
    return 0


def lint() -> int:
    code = [name for name in ("src", "tests", "bench", "scripts") if (ROOT / name).is_dir()]
    checks = [
        (BIN / "ruff", "check", *code),
        (BIN / "ruff", "format", "--check", *code),
        (BIN / "mypy",),
        (BIN / "hadolint", "--failure-threshold", "warning", "Dockerfile"),
    ]
    failed = [check for check in checks if _exec(*check) != 0]
    for check in failed:
        print(f"FAILED: {' '.join(str(part) for part in check)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
