"""A real server whose /dev/shm is read-only: search, answers and readiness all work.

Python's multiprocessing makes its locks as POSIX semaphores in /dev/shm, so a process pool
cannot even be created there (some container runtimes and sandboxes mount it read-only or leave
it out). Search once scored in such a pool; this guards against anything needing one again.
The server runs in a private mount namespace with a read-only tmpfs over /dev/shm.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.reading_pdfs import Page, build_pdf

pytestmark = pytest.mark.slow

# Runs the rest of the command line with a read-only, empty tmpfs mounted over /dev/shm.
READ_ONLY_SHM = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -t tmpfs -o ro tmpfs /dev/shm && exec "$@"',
    "sh",
]


def read_only_shm_refusal() -> str | None:
    """Why no mount namespace with a read-only /dev/shm can be made here (None: it can)."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        [*READ_ONLY_SHM, "sh", "-c", "! touch /dev/shm/probe 2>/dev/null"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        reason = probe.stderr.strip() or f"exit status {probe.returncode}"
        return f"cannot mount a read-only /dev/shm in a private mount namespace: {reason}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`docquery serve` (embedded) with a read-only /dev/shm: search once needed a process pool,
    whose locks live there; it must never need one again."""
    if reason := read_only_shm_refusal():
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCQUERY_", "AWS_"))}
    env |= {
        "DOCQUERY_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*READ_ONLY_SHM, sys.executable, "-m", "docquery.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=60, what="server start")
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready_document(url: str, document_id: str) -> bool:
    response = httpx.get(f"{url}/v1/documents/{document_id}", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["status"] != "failed", response.text
    return bool(response.json()["status"] == "ready")


def _notes_pdf() -> bytes:
    """Three pages, each one sentence naming its own made-up medicine (zenotrex1, 2, 3)."""
    return build_pdf(
        [
            Page().text(72, 300, f"Zenotrex{n} is the trial medicine given at noon on ward {n}.")
            for n in (1, 2, 3)
        ]
    )


def test_search_and_answers_work_and_readiness_is_true(server: tuple[str, Path]) -> None:
    url, log_path = server
    upload = httpx.post(
        f"{url}/v1/documents",
        files={"file": ("notes.pdf", _notes_pdf(), "application/pdf")},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    document_id = upload.json()["id"]
    wait_until(lambda: _ready_document(url, document_id), timeout=60, what="processing")

    ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["search_index"] == "ok"

    search = httpx.get(f"{url}/v1/search", params={"q": "zenotrex2"}, timeout=10)
    assert search.status_code == 200, search.text
    hits = search.json()["hits"]
    assert [(hit["document_id"], hit["page"]) for hit in hits] == [(document_id, 2)]

    answer = httpx.post(f"{url}/v1/query", json={"question": "What is zenotrex2?"}, timeout=30)
    assert answer.status_code == 200, answer.text
    citations = answer.json()["citations"]
    assert citations, answer.text
    assert {(c["document_id"], c["page"]) for c in citations} == {(document_id, 2)}

    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line.get("level") in ("ERROR", "CRITICAL")], lines
