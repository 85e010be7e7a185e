"""Hostile bodies: the server's peak RSS for a 150 MiB JSON body, /healthz while tags are huge.

Run from the repository root with the dev environment active:

    python bench/hostile_bodies.py                      # the code installed in .venv
    python bench/hostile_bodies.py --src OLD/src        # another checkout's code (before a fix)
    python bench/hostile_bodies.py --only rss --json out.json

Every scenario gets a fresh `docquery serve` (embedded profile, API keys, pipeline off, search
scored on the server's thread, uvicorn's default HTTP implementation) on a free loopback port.

rss      One 150 MiB JSON body (`{"question": "aaa…"}`) sent as fast as loopback allows:
         anonymous to POST /v1/search and PATCH /v1/documents/{id} with an honest Content-Length,
         authenticated to POST /v1/query with a Content-Length and chunked without one. Idle RSS
         is VmRSS after /healthz and one small search; the peak is reset there (`5` into
         /proc/PID/clear_refs) and VmHWM is read once the server has answered; delta = peak -
         idle. "sent" is how much of the body the client got into the socket before the answer.
healthz  GET /healthz every 10 ms on one keep-alive connection for DURATION seconds while another
         client sends, one after another, authenticated POST /v1/search bodies with one tag of
         20 MB (over the JSON cap), of 200 kB (under it: only the field bound refuses it), or no
         hostile client at all; p50/p99/max of the health checks' wall time, client side.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from _search_corpus import scratch_dir
from upload import (
    BIN_DIR,
    HOST,
    MIB,
    base_env,
    free_port,
    proc_status,
    reset_peak,
    spawn,
    wait_until_up,
)

BODY_BYTES = 150 * MIB
CHUNK = MIB
ID = "0123456789abcdef0123456789abcdef"
BIG_TAG = 20_000_000
SMALL_TAG = 200_000
RSS_SCENARIOS = {
    "anon_search": ("POST", "/v1/search", False, True),
    "anon_patch": ("PATCH", f"/v1/documents/{ID}", False, True),
    "auth_query": ("POST", "/v1/query", True, True),
    "auth_query_chunked": ("POST", "/v1/query", True, False),
}
HEALTH_SCENARIOS = {"quiet": 0, "tag_200kB": SMALL_TAG, "tag_20MB": BIG_TAG}


@dataclass
class Served:
    url: str
    port: int
    pid: int
    key: str


@dataclass
class RssRow:
    scenario: str
    status: str
    answer_s: float
    sent_mib: float
    idle_mib: float
    peak_mib: float
    delta_mib: float


@dataclass
class HealthRow:
    scenario: str
    checks: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    hostile_requests: int
    hostile_statuses: list[int]


@contextlib.contextmanager
def serve(workdir: Path, src: Path | None) -> Iterator[Served]:
    """`docquery serve` with one API key, on a free port; stopped on exit."""
    key = "dq_" + secrets.token_urlsafe(32)
    port = free_port()
    env = base_env(workdir) | {
        "DOCQUERY_PROFILE": "embedded",
        "DOCQUERY_DATA_DIR": str(workdir / "data"),
        "DOCQUERY_AUTH": "api_key",
        "DOCQUERY_API_KEYS": f"bench={hashlib.sha256(key.encode()).hexdigest()}",
        "PIPELINE_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    cmd = [str(BIN_DIR / "docquery"), "serve", "--host", HOST, "--port", str(port)]
    with contextlib.ExitStack() as stack:
        proc, log = spawn(stack, "server", cmd, env, workdir)
        url = f"http://{HOST}:{port}"
        wait_until_up(proc, f"{url}/healthz", log)
        yield Served(url, port, proc.pid, key)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_body(size: int) -> Iterator[bytes]:
    """`{"question": "aaa…"}` of exactly `size` bytes, a chunk at a time."""
    opening, closing = b'{"question": "', b'"}'
    yield opening
    left = size - len(opening) - len(closing)
    while left > 0:
        yield b"a" * min(CHUNK, left)
        left -= CHUNK
    yield closing


def send_hostile(served: Served, scenario: str) -> tuple[str, float, int]:
    """Send one 150 MiB body; the status line (or how the connection ended), seconds, bytes sent."""
    method, path, authenticated, with_length = RSS_SCENARIOS[scenario]
    headers = {"Content-Type": "application/json"}
    headers |= {"X-API-Key": served.key} if authenticated else {}
    headers |= (
        {"Content-Length": str(BODY_BYTES)} if with_length else {"Transfer-Encoding": "chunked"}
    )
    answer = _Answer()
    sock = socket.create_connection((HOST, served.port), timeout=300)
    reader = threading.Thread(target=answer.read, args=(sock,), daemon=True)
    started = time.perf_counter()
    reader.start()
    sent = 0
    with sock:
        with contextlib.suppress(OSError):  # the server may hang up before the body is sent
            sock.sendall(head(method, path, headers))
            for piece in json_body(BODY_BYTES):
                if answer.first_at is not None:
                    break
                sock.sendall(piece if with_length else b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            else:
                sock.sendall(b"" if with_length else b"0\r\n\r\n")
        answer.arrived.wait(timeout=300)
        time.sleep(0.2)  # the rest of a short answer
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        reader.join(timeout=10)
    seconds = (answer.first_at or time.perf_counter()) - started
    status = bytes(answer.data).split(b"\r\n", 1)[0].decode("latin-1") or "connection reset"
    return status, seconds, sent


class _Answer:
    """What the server sends back, read on a thread while the body is still being sent."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.first_at: float | None = None
        self.arrived = threading.Event()

    def read(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                if self.first_at is None:
                    self.first_at = time.perf_counter()
                self.data += chunk
                self.arrived.set()
        self.arrived.set()


def warm_up(served: Served) -> None:
    headers = {"X-API-Key": served.key}
    with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
        client.get("/healthz").raise_for_status()
        client.post("/v1/search", json={"q": "warm"}).raise_for_status()


def run_rss(scenario: str, src: Path | None, keep: bool) -> RssRow:
    with (
        scratch_dir(f"docquery-bench-hostile-{scenario}-", keep=keep) as workdir,
        serve(workdir, src) as served,
    ):
        warm_up(served)
        idle = proc_status(served.pid)["VmRSS"]
        if not reset_peak(served.pid):
            print("note: could not reset VmHWM; peak includes start-up", file=sys.stderr)
        status, seconds, sent = send_hostile(served, scenario)
        time.sleep(0.5)  # the server finishes with the request it answered
        peak = proc_status(served.pid)["VmHWM"]
    return RssRow(scenario, status, seconds, sent / MIB, idle, peak, peak - idle)


def run_health(scenario: str, duration: float, src: Path | None, keep: bool) -> HealthRow:
    tag_size = HEALTH_SCENARIOS[scenario]
    with (
        scratch_dir(f"docquery-bench-hostile-{scenario}-", keep=keep) as workdir,
        serve(workdir, src) as served,
    ):
        warm_up(served)
        stop = threading.Event()
        statuses: list[int] = []
        hostile = threading.Thread(
            target=_hostile_tags, args=(served, tag_size, stop, statuses), daemon=True
        )
        if tag_size:
            hostile.start()
            time.sleep(0.2)  # the first hostile body is on its way
        latencies = _poll_health(served, duration)
        stop.set()
        if tag_size:
            hostile.join(timeout=120)
    ordered = sorted(latencies)
    return HealthRow(
        scenario,
        len(ordered),
        round(statistics.median(ordered) * 1000, 2),
        round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
        round(ordered[-1] * 1000, 2),
        len(statuses),
        sorted(set(statuses)),
    )


def _hostile_tags(served: Served, size: int, stop: threading.Event, statuses: list[int]) -> None:
    body = json.dumps({"q": "warfarin", "tags": ["t" * size]}).encode()
    headers = {"X-API-Key": served.key, "Content-Type": "application/json"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=120) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.TransportError):
                statuses.append(client.post("/v1/search", content=body).status_code)


def _poll_health(served: Served, duration: float) -> list[float]:
    latencies: list[float] = []
    with httpx.Client(base_url=served.url, timeout=60) as client:
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    return latencies


def table(rows: list[RssRow] | list[HealthRow]) -> str:
    dicts = [asdict(row) for row in rows]
    names = list(dicts[0])
    widths = [max(len(n), *(len(_cell(d[n])) for d in dicts)) for n in names]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    for d in dicts:
        cells = [_cell(d[n]).ljust(w) for n, w in zip(names, widths, strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, help="import docquery from this source folder")
    parser.add_argument("--only", choices=["rss", "healthz"], help="run one part only")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per healthz run")
    parser.add_argument("--json", type=Path, help="write every row to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    args = parser.parse_args()
    results: dict[str, list[dict[str, object]]] = {}
    parts: list[tuple[str, Callable[[], list[RssRow] | list[HealthRow]]]] = [
        ("rss", lambda: [run_rss(s, args.src, args.keep) for s in RSS_SCENARIOS]),
        (
            "healthz",
            lambda: [run_health(s, args.duration, args.src, args.keep) for s in HEALTH_SCENARIOS],
        ),
    ]
    print(f"docquery from {args.src or 'the installed package'}; {os.cpu_count()} CPUs")
    for name, run in parts:
        if args.only in (None, name):
            rows = run()
            print(f"\n{name}\n{table(rows)}")
            results[name] = [asdict(row) for row in rows]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
