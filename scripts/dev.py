#!/usr/bin/env python3
"""Set up and run docquery with nothing but Python: `python3 scripts/dev.py serve|test|lint`.

Creates `.venv` beside the project on first use, installs the project (pinned by
constraints.txt) and re-installs only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import hashlib
import os
import signal
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


def _call(*command: object) -> int:
    return subprocess.call([str(part) for part in command], cwd=ROOT)


def _replace(*command: object) -> int:
    """Become the command, so signals reach it and its exit status is ours.

    A child process would be orphaned when the wrapper alone gets SIGTERM or SIGINT, and keep
    the port; on POSIX the wrapper execs, elsewhere (Windows) it runs a child and passes on
    what the console does not already deliver to it.
    """
    args = [str(part) for part in command]
    os.chdir(ROOT)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(args[0], args)  # noqa: S606 - the command is ours, not user input
    return _run_forwarding(args)


def _run_forwarding(args: list[str]) -> int:
    """Run `args` as a child; SIGTERM is passed on, Ctrl-C and Ctrl-Break the child gets itself."""
    child = subprocess.Popen(args, cwd=ROOT)

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM:
            child.terminate()
        # A console's Ctrl-C or Ctrl-Break reaches every process attached to it, the child
        # too: the wrapper only waits for the child to finish its own shutdown.

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if (signum := getattr(signal, name, None)) is not None:
            signal.signal(signum, forward)
    return child.wait()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test", "lint", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    # One environment with the dev tools serves every command; serve needs only the runtime.
    ensure_env("dev" if command != "serve" or STAMP.exists() else "")
    if command == "serve":
        return _replace(BIN / "docquery", "serve", *rest)
    if command == "test":
        # The benchmarks' data beside the clone: a fresh clone has none, so tests must make or
        # carry theirs. tests/conftest.py fails any test that opens or lists a path in here.
        os.environ["DOCQUERY_TESTS_FORBIDDEN_DIRS"] = str(ROOT.parent / "shared")
        return _replace(PYTHON, "-m", "pytest", *rest)
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
    failed = [check for check in checks if _call(*check) != 0]
    for check in failed:
        print(f"FAILED: {' '.join(str(part) for part in check)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
