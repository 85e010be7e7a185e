"""`docquery healthcheck` wall time: idle, and while the server extracts and indexes big PDFs.

Run from the repository root with the dev environment active:

    python bench/healthcheck.py                       # 30 runs idle, 30 runs busy
    python bench/healthcheck.py --runs 20 --stdlib as-image,compiled --source /tmp/old/src

A `docquery serve` (embedded profile, the pipeline on, as in the task definition: 2 documents
at a time, 1 extraction worker) runs on a free port of 127.0.0.1. Each run is a fresh
`python -c "from docquery.cli import main; ..." healthcheck --url .../healthz`, the console
script's own two lines, timed from spawn to exit. "busy": an uploader keeps the pipeline full
with distinct text PDFs of --pages pages (each upload waits until fewer than two documents are
outstanding), so extraction, indexing and summarising keep both cores of the machine busy.

--stdlib as-image runs each health check on a copy of this Python's standard library without
any .pyc (the official python:*-slim images delete them; PYTHONHOME points at the copy, the
venv's packages and src/ come from PYTHONPATH, PYTHONDONTWRITEBYTECODE=1 as on a read-only root):
every standard module it imports is compiled from source on every run. --stdlib compiled runs
the Dockerfile's `python -m compileall` on that copy first. --stdlib host (the default) uses
this machine's own, compiled, standard library. --source adds variants that take docquery
from another checkout's src/ (to time an older cli.py). The variants take turns, run by run,
so that a change in the machine's load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.bad_pdfs import text_pdf  # noqa: E402

ENTRY = "from docquery.cli import main; raise SystemExit(main())"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCQUERY_", "AWS_"))}
    env |= {"DOCQUERY_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env |= {"PIPELINE_CONCURRENCY": "2", "EXTRACT_WORKERS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "docquery.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def keep_busy(url: str, pages: int, stop: threading.Event, done: list[int]) -> None:
    """Upload distinct PDFs so that about two are always being processed."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for n in range(10_000):
            if stop.is_set():
                return
            body = text_pdf(pages=pages + n)  # a page more each time: distinct bytes
            response = client.post("/v1/documents", files={"file": ("b.pdf", body)})
            response.raise_for_status()
            while not stop.is_set():
                listed = client.get("/v1/documents", params={"limit": 100}).json()["items"]
                if sum(d["status"] in ("queued", "processing") for d in listed) < 2:
                    break
                time.sleep(0.2)
            done.append(n)


Variant = tuple[str, list[str], dict[str, str]]


def time_checks(url: str, runs: int, variants: list[Variant]) -> dict[str, list[float]]:
    """Seconds per health check of each variant, the variants taking turns run by run."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _ in range(runs):
        for name, python, env in variants:
            start = time.perf_counter()
            result = subprocess.run(
                [*python, "-c", ENTRY, "healthcheck", "--url", f"{url}/healthz"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            times[name].append(time.perf_counter() - start)
            if result.returncode != 0:
                raise SystemExit(f"{name}: healthcheck exited {result.returncode}")
    return times


def summary(label: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return (
        f"{label:28} n={len(ms)} median={statistics.median(ms):5.0f} ms "
        f"p90={p90:5.0f} ms max={ms[-1]:5.0f} ms"
    )


def image_stdlib(scratch: Path, *, compiled: bool) -> Path:
    """A PYTHONHOME holding a copy of the standard library as the slim image has it."""
    source = Path(sysconfig.get_path("stdlib"))
    home = scratch / ("home-compiled" if compiled else "home")
    skip = shutil.ignore_patterns(
        "__pycache__", "site-packages", "test", "tests", "idle_test", "config-*"
    )
    shutil.copytree(source, home / "lib" / source.name, ignore=skip)
    if compiled:  # the Dockerfile's step
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", str(home / "lib")], check=True
        )
    return home


def variant(stdlib: str, source: str | None, scratch: Path) -> Variant:
    """A name, the interpreter and the environment one kind of health check runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    src = [str(Path(source).resolve())] if source else []
    name = f"{'--source' if source else 'this tree'}, stdlib {stdlib}"
    if stdlib == "host":
        return name, [sys.executable], env | ({"PYTHONPATH": src[0]} if src else {})
    home = image_stdlib(scratch / name.replace(" ", "_"), compiled=stdlib == "compiled")
    paths = [*src, sysconfig.get_path("purelib"), str(REPO / "src")]
    env |= {
        "PYTHONHOME": str(home),
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return name, [getattr(sys, "_base_executable", sys.executable)], env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="per variant and phase")
    parser.add_argument("--pages", type=int, default=2000, help="pages of each busy PDF")
    parser.add_argument(
        "--stdlib", default="host", help="comma-separated: host, as-image, compiled"
    )
    parser.add_argument("--source", help="a src/ directory to take docquery.cli from as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docquery-bench-healthcheck-") as name:
        scratch = Path(name)
        variants = [
            variant(stdlib, source, scratch)
            for source in (None, *([args.source] if args.source else []))
            for stdlib in args.stdlib.split(",")
        ]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(scratch / "data", port)
        try:
            for label, times in time_checks(url, args.runs, variants).items():
                print(summary(f"idle {label}", times), flush=True)
            stop, done = threading.Event(), []
            uploader = threading.Thread(target=keep_busy, args=(url, args.pages, stop, done))
            uploader.start()
            time.sleep(3)  # the pipeline fills up
            busy = time_checks(url, args.runs, variants)
            stop.set()
            uploader.join()
            for label, times in busy.items():
                print(summary(f"busy {label}", times))
            print(f"({len(done)} PDFs processed while busy)")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
