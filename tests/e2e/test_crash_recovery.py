"""A real server stopped mid-processing, by kill -9 or by SIGTERM: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from docquery.domain.documents import Document, DocumentStatus, WorkState
from docquery.domain.principals import LOCAL_OWNER
from docquery.settings import Settings
from docquery.wiring import open_services
from support.bad_pdfs import text_pdf

pytestmark = pytest.mark.slow

LEASE_SECONDS = 5
# Long enough that processing is still under way when the test kills the server.
PAGES = 2000
# ECS's stopTimeout in infra/ecs-task-definition.json: SIGKILL follows SIGTERM after this.
STOP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`docquery serve` in its own process, on the embedded profile."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DOCQUERY_", "AWS_"))
        }
        env |= {
            "DOCQUERY_DATA_DIR": str(data_dir),
            "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "SWEEP_INTERVAL_SECONDS": "0.5",
            "PIPELINE_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
        }
        self.url = f"http://127.0.0.1:{port}"
        self._log = (data_dir.parent / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docquery.cli", "serve", "--port", str(port)],
            env=env,
            cwd=data_dir.parent,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        wait_until(lambda: _answers(self.url), timeout=30, what="server start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def document(url: str, document_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/documents/{document_id}", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def start_long_document(server: Server) -> str:
    """Upload a long PDF and return its id once a worker is processing it."""
    response = httpx.post(
        f"{server.url}/v1/documents",
        files={"file": ("long.pdf", text_pdf(pages=PAGES), "application/pdf")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    wait_until(
        lambda: document(server.url, document_id)["status"] == "processing",
        timeout=60,
        what="processing to start",
    )
    return document_id


def wait_finished(url: str, document_id: str) -> dict[str, Any]:
    """The document once processing is over (ready with a summary outcome, or failed)."""
    return wait_until(
        lambda: (
            (d := document(url, document_id))["summary_status"] != "pending"
            and d["status"] != "processing"
            and d
        ),
        timeout=120,
        what="processing to finish after the restart",
    )


def worker_pids(parent: int) -> set[int]:
    """Live processes whose parent is `parent` (the extraction workers)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent):
            found.add(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state != "Z"


def test_kill_9_mid_processing_then_a_new_process_completes_it_once(data_dir: Path) -> None:
    first = Server(data_dir, free_port())
    try:
        document_id = start_long_document(first)
        workers = worker_pids(first.process.pid)
        first.kill()
    finally:
        first.stop()
    # The orphaned extraction worker notices its parent is gone and exits.
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=15, what="orphans to exit")

    second = Server(data_dir, free_port())
    try:
        interrupted = document(second.url, document_id)
        assert interrupted["status"] in ("processing", "queued")
        final = wait_finished(second.url, document_id)
        assert final["status"] == "ready", final
        assert final["page_count"] == PAGES
        assert final["summary_status"] == "ready"
        summary = httpx.get(f"{second.url}/v1/documents/{document_id}/summary", timeout=5)
        assert summary.status_code == 200
        assert summary.json()["sections"]
        stored = sorted(p.name for p in (data_dir / "blobs" / "documents" / document_id).iterdir())
        assert stored == ["original.pdf", "pages.json", "summary.json"]
        assert list((data_dir / "tmp").iterdir()) == []
    finally:
        second.stop()


async def stored(data_dir: Path, document_id: str) -> Document:
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    async with open_services(settings) as services:
        return await services.documents.get(owner=LOCAL_OWNER, document_id=document_id)


def test_sigterm_with_work_in_flight_hands_it_back_and_exits_in_time(data_dir: Path) -> None:
    server = Server(data_dir, free_port())
    try:
        document_id = start_long_document(server)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        took = time.monotonic() - started
    finally:
        server.stop()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status 143).
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert took < STOP_TIMEOUT_SECONDS
    left = asyncio.run(stored(data_dir, document_id))
    assert left.status is DocumentStatus.QUEUED
    assert left.work_state is WorkState.QUEUED
    assert left.lease is None
    assert left.attempts == 0
    # The next start picks it up at once.
    restarted = Server(data_dir, free_port())
    try:
        final = wait_finished(restarted.url, document_id)
        assert final["status"] == "ready"
    finally:
        restarted.stop()
