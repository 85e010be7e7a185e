"""Upload benchmark: throughput and the server's peak RSS for large PDF uploads.

Run from the repository root with the dev environment active (moto[server] is a dev extra):

    python bench/upload.py                        # 50 and 200 MB, scenarios a-d, 3 runs each
    python bench/upload.py --sizes 50,200 --scenarios a,b,c,d --repeat 3 --json out.json --strict

Scenarios; every run (scenario x size x repeat) gets a fresh server process (uvicorn, one
process, 127.0.0.1, a random free port) so that its peak RSS belongs to that one upload:

  a  raw request stream, sha256 only, no multipart parsing (bench/_baseline_app.py:raw_app)
  b  `docquery serve`, embedded profile (local blob files + SQLite)
  c  `docquery serve`, aws profile against a moto server running as a separate process
  d  FastAPI `UploadFile`, then aioboto3 `upload_fileobj` to the same kind of moto S3
     (bench/_baseline_app.py:uploadfile_app)

For each run: idle RSS is VmRSS after startup, GET /healthz and a 64 KiB warm-up upload; the
peak is reset there (`5` into /proc/PID/clear_refs) and VmHWM is read after the measured
upload; delta = peak - idle. Throughput is file bytes / wall time of the request (MB = 10^6
bytes, RSS in MiB). The client streams a multipart body with an explicit Content-Length; the
file is %PDF-1.7 followed by a 16 MiB pseudo-random pool (seeded per scenario and size, made
before the clock starts) repeated to the size. The server's answer must be 201 with the same
size and sha256, or the run fails. A row of the table is the median time (and CPU) of the
runs and the memory of the run with the largest delta; --json keeps every run.

The target checked: (b) and (c) raise peak RSS by less than 48 MiB for a 200 MB upload. It
prints PASS/FAIL; only --strict turns FAIL into exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import httpx

BENCH_DIR = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"
MB = 1_000_000
MIB = 1024 * 1024
BLOCK = MIB
POOL_BYTES = 16 * MIB
WARMUP_BYTES = 64 * 1024
PDF_HEADER = b"%PDF-1.7\n"
TARGET_MIB = 48.0
TARGET_SIZE_MB = 200
TARGET_SCENARIOS = ("b", "c")
START_TIMEOUT = 60.0
SCENARIOS = {
    "a": "raw stream + sha256",
    "b": "docquery embedded",
    "c": "docquery aws (moto)",
    "d": "UploadFile + upload_fileobj (moto)",
}


T = TypeVar("T")


class BenchError(RuntimeError):
    """A server did not start or an upload did not answer as expected."""


@dataclass
class Server:
    """A started server: where to send the upload, and the process to measure."""

    url: str
    pid: int
    log: Path
    headers: dict[str, str] = field(default_factory=dict)
    hashes_whole_body: bool = False
    moto_pid: int | None = None


@dataclass
class Result:
    scenario: str
    size_mb: int
    seconds: float
    mb_per_s: float
    idle_mib: float
    peak_mib: float
    delta_mib: float
    server_cpu_s: float
    moto_cpu_s: float | None
    client_cpu_s: float
    peak_reset: bool


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def base_env(workdir: Path) -> dict[str, str]:
    """A small, explicit environment: nothing from the caller's DOCQUERY_/AWS_ variables."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL") if key in os.environ}
    env |= {
        "TMPDIR": str(workdir),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return env


def spawn(
    stack: contextlib.ExitStack, name: str, cmd: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a process in its own session, logging to cwd/name.log; stopped when stack exits."""
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    stack.callback(stop, proc)
    return proc, log


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's group (it is a session leader), SIGKILL it after 10 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll url until it answers (any status below 500), the process dies, or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{log.stem} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise BenchError(f"{url} did not answer within {START_TIMEOUT:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- /proc -----------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of pid in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024  # kB -> MiB
    return values


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- scenarios -------------------------------------------------------------------------------


def start_bench_app(
    stack: contextlib.ExitStack, workdir: Path, app: str, env: dict[str, str]
) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", f"_baseline_app:{app}", "--app-dir", str(BENCH_DIR)]
    cmd += ["--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning"]
    return start_server(stack, workdir, cmd, env, port)


def start_docquery(stack: contextlib.ExitStack, workdir: Path, env: dict[str, str]) -> Server:
    port = free_port()
    cmd = [str(BIN_DIR / "docquery"), "serve", "--host", HOST, "--port", str(port)]
    return start_server(stack, workdir, cmd, env, port)


def start_server(
    stack: contextlib.ExitStack, workdir: Path, cmd: list[str], env: dict[str, str], port: int
) -> Server:
    proc, log = spawn(stack, "server", cmd, env, workdir)
    url = f"http://{HOST}:{port}"
    wait_until_up(proc, f"{url}/healthz", log)
    return Server(url=f"{url}/v1/documents", pid=proc.pid, log=log)


def start_moto(stack: contextlib.ExitStack, workdir: Path) -> tuple[str, int]:
    """A moto server of its own (its memory is not the server's); returns its URL and pid."""
    port = free_port()
    cmd = [str(BIN_DIR / "moto_server"), "-H", HOST, "-p", str(port)]
    proc, log = spawn(stack, "moto", cmd, base_env(workdir), workdir)
    url = f"http://{HOST}:{port}"
    wait_until_up(proc, f"{url}/moto-api/", log)
    return url, proc.pid


def aws_env(workdir: Path, endpoint: str) -> tuple[dict[str, str], str]:
    """docquery's aws-profile settings against moto; returns the env and the API key."""
    key = "dq_" + secrets.token_urlsafe(32)
    suffix = secrets.token_hex(4)
    env = base_env(workdir) | {
        "DOCQUERY_PROFILE": "aws",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "S3_BUCKET": f"bench-{suffix}",
        "DYNAMODB_TABLE": f"bench-{suffix}",
        "DOCQUERY_AUTH": "api_key",
        "DOCQUERY_API_KEYS": f"bench={hashlib.sha256(key.encode()).hexdigest()}",
        "SECRET_KEY": secrets.token_urlsafe(36)[:48],
        "MAX_FILE_SIZE": "300MB",
    }
    return env, key


def docquery_init(workdir: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN_DIR / "docquery"), "init"], env=env, cwd=workdir, capture_output=True, timeout=120
    )
    if done.returncode != 0:
        raise BenchError(f"docquery init failed:\n{done.stdout.decode()}{done.stderr.decode()}")


def start_scenario(scenario: str, stack: contextlib.ExitStack, workdir: Path) -> Server:
    """Start what the scenario needs (moto first for c and d) and return the server to test."""
    if scenario == "a":
        server = start_bench_app(stack, workdir, "raw_app", base_env(workdir))
        server.hashes_whole_body = True
        return server
    if scenario == "b":
        env = base_env(workdir) | {
            "DOCQUERY_PROFILE": "embedded",
            "DOCQUERY_DATA_DIR": str(workdir / "data"),
            "MAX_FILE_SIZE": "300MB",
        }
        return start_docquery(stack, workdir, env)
    moto_url, moto_pid = start_moto(stack, workdir)
    env, key = aws_env(workdir, moto_url)
    docquery_init(workdir, env)  # the bucket (and table) for c, the same bucket setup for d
    if scenario == "c":
        server = start_docquery(stack, workdir, env)
        server.headers = {"X-API-Key": key}
    else:
        bucket = {"BENCH_S3_BUCKET": env["S3_BUCKET"]}
        server = start_bench_app(stack, workdir, "uploadfile_app", env | bucket)
    server.moto_pid = moto_pid
    return server


# --- the client ------------------------------------------------------------------------------


@dataclass
class Upload:
    """One multipart body: its framing and file content, streamed and never held whole."""

    size: int
    seed: int
    boundary: str = field(default_factory=lambda: "bench" + secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.pool = random.Random(self.seed).randbytes(POOL_BYTES)
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="bench-{self.seed}.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def file_chunks(self) -> Iterator[bytes]:
        yield PDF_HEADER
        remaining, offset = self.size - len(PDF_HEADER), 0
        while remaining > 0:
            take = min(BLOCK, remaining, POOL_BYTES - offset)
            yield self.pool[offset : offset + take]
            remaining -= take
            offset = (offset + take) % POOL_BYTES

    def body(self) -> Iterator[bytes]:
        yield self.head
        yield from self.file_chunks()
        yield self.tail

    def sha256(self, whole_body: bool) -> str:
        hasher = hashlib.sha256()
        for chunk in self.body() if whole_body else self.file_chunks():
            hasher.update(chunk)
        return hasher.hexdigest()


@dataclass
class Timing:
    seconds: float
    client_cpu_s: float


def post_upload(client: httpx.Client, server: Server, upload: Upload) -> Timing:
    """Send the upload and time it. Anything but a 201 with the same size and sha256 raises."""
    headers = server.headers | {
        "Content-Type": f"multipart/form-data; boundary={upload.boundary}",
        "Content-Length": str(upload.length),
    }
    cpu, started = time.process_time(), time.perf_counter()
    response = client.post(server.url, content=upload.body(), headers=headers)
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu)
    if response.status_code != 201:
        raise BenchError(f"{server.url} answered {response.status_code}: {response.text[:500]}")
    answer = response.json()
    size = upload.length if server.hashes_whole_body else upload.size
    expected = (size, upload.sha256(server.hashes_whole_body))
    if (answer.get("size"), answer.get("sha256")) != expected:
        raise BenchError(f"{server.url} stored something else: {answer}")
    return timing


def measure(scenario: str, size_mb: int, base_seed: int, repeat: int) -> Result:
    """One upload of size_mb against a fresh server for scenario; everything stopped after."""
    seed = zlib.crc32(f"{scenario}:{size_mb}:{base_seed}:{repeat}".encode())
    with (
        tempfile.TemporaryDirectory(prefix=f"docquery-bench-{scenario}-") as tmp,
        contextlib.ExitStack() as stack,
        httpx.Client(timeout=300) as client,
    ):
        server = start_scenario(scenario, stack, Path(tmp))
        client.get(server.url.rsplit("/v1/", 1)[0] + "/healthz").raise_for_status()
        post_upload(client, server, Upload(WARMUP_BYTES, seed + 1))
        upload = Upload(size_mb * MB, seed)  # the pool is made here, before the clock starts
        idle = proc_status(server.pid)["VmRSS"]
        peak_reset = reset_peak(server.pid)
        before = {pid: cpu_seconds(pid) for pid in (server.pid, server.moto_pid) if pid}
        timing = post_upload(client, server, upload)
        cpu = {pid: cpu_seconds(pid) - start for pid, start in before.items()}
        peak = proc_status(server.pid)["VmHWM"]
    return Result(
        scenario=scenario,
        size_mb=size_mb,
        seconds=round(timing.seconds, 3),
        mb_per_s=round(size_mb / timing.seconds, 1),
        idle_mib=round(idle, 1),
        peak_mib=round(peak, 1),
        delta_mib=round(peak - idle, 1),
        server_cpu_s=round(cpu[server.pid], 2),
        moto_cpu_s=round(cpu[server.moto_pid], 2) if server.moto_pid else None,
        client_cpu_s=round(timing.client_cpu_s, 2),
        peak_reset=peak_reset,
    )


# --- report ----------------------------------------------------------------------------------


def summarise(runs: list[Result]) -> list[Result]:
    """One row per scenario and size: median time and CPU; memory of the run with most delta."""
    rows = []
    for key in dict.fromkeys((r.scenario, r.size_mb) for r in runs):
        same = [r for r in runs if (r.scenario, r.size_mb) == key]
        seconds = statistics.median(r.seconds for r in same)
        moto = [r.moto_cpu_s for r in same if r.moto_cpu_s is not None]
        worst = max(same, key=lambda r: r.delta_mib)
        rows.append(
            replace(
                worst,
                seconds=round(seconds, 3),
                mb_per_s=round(worst.size_mb / seconds, 1),
                server_cpu_s=round(statistics.median(r.server_cpu_s for r in same), 2),
                moto_cpu_s=round(statistics.median(moto), 2) if moto else None,
                client_cpu_s=round(statistics.median(r.client_cpu_s for r in same), 2),
            )
        )
    return rows


def machine_info() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    meminfo = Path("/proc/meminfo").read_text().split()
    packages = ("fastapi", "starlette", "uvicorn", "python-multipart", "aioboto3", "moto")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / MIB, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: metadata.version(name) for name in packages},
    }


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def print_table(results: list[Result]) -> None:
    header = ["scenario", "size MB", "s", "MB/s", "x(a)", "idle MiB", "peak MiB", "delta MiB"]
    header += ["delta x(a)", "CPU s: server", "moto", "client"]
    rows = [header]
    for r in results:
        base = next((b for b in results if b.scenario == "a" and b.size_mb == r.size_mb), None)
        rows.append(
            [
                f"{r.scenario} {SCENARIOS[r.scenario]}",
                str(r.size_mb),
                f"{r.seconds:.2f}",
                f"{r.mb_per_s:.1f}",
                ratio(r.mb_per_s, base.mb_per_s if base else None),
                f"{r.idle_mib:.1f}",
                f"{r.peak_mib:.1f}",
                f"{r.delta_mib:.1f}",
                ratio(r.delta_mib, base.delta_mib if base and base.delta_mib > 0 else None),
                f"{r.server_cpu_s:.2f}",
                "-" if r.moto_cpu_s is None else f"{r.moto_cpu_s:.2f}",
                f"{r.client_cpu_s:.2f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))


def check_target(results: list[Result]) -> bool | None:
    """PASS/FAIL for the memory target; None when the run did not include what it needs."""
    checked = [r for r in results if r.scenario in TARGET_SCENARIOS and r.size_mb == TARGET_SIZE_MB]
    if not checked:
        print(f"target: SKIPPED (needs scenario b or c at {TARGET_SIZE_MB} MB)")
        return None
    ok = all(r.delta_mib < TARGET_MIB for r in checked)
    found = ", ".join(f"({r.scenario}) {r.delta_mib:.1f} MiB" for r in checked)
    print(
        f"target: {'PASS' if ok else 'FAIL'}: peak RSS delta at {TARGET_SIZE_MB} MB "
        f"under {TARGET_MIB:.0f} MiB for (b) and (c): {found}"
    )
    return ok


# --- main ------------------------------------------------------------------------------------


def csv_of(kind: Callable[[str], T], allowed: Callable[[T], bool]) -> Callable[[str], list[T]]:
    """An argparse type for a comma-separated list of kind, each item allowed."""

    def parse(text: str) -> list[T]:
        items = [kind(item.strip()) for item in text.split(",") if item.strip()]
        if not items or not all(allowed(item) for item in items):
            raise argparse.ArgumentTypeError(f"invalid list: {text!r}")
        return items

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = csv_of(int, lambda n: 1 <= n <= 290)  # MAX_FILE_SIZE is 300MB
    scenarios = csv_of(str, lambda s: s in SCENARIOS)
    parser.add_argument("--sizes", type=sizes, default=[50, 200], help="MB, e.g. 50,200")
    parser.add_argument("--scenarios", type=scenarios, default=list(SCENARIOS), help="e.g. a,b,c,d")
    parser.add_argument(
        "--repeat",
        type=int,
        choices=range(1, 21),
        default=3,
        metavar="N",
        help="runs of each (the table shows the median time and the largest memory delta)",
    )
    parser.add_argument("--json", type=Path, help="also write the machine and every run here")
    parser.add_argument("--seed", type=int, default=0, help="changes every file's content")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target fails")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    print(f"machine: {json.dumps(machine)}")
    runs: list[Result] = []
    for repeat in range(args.repeat):
        for size_mb in args.sizes:
            for scenario in sorted(set(args.scenarios)):
                name = f"({scenario}) {SCENARIOS[scenario]}, {size_mb} MB"
                print(f"run {repeat + 1}/{args.repeat}: {name} ...", flush=True)
                runs.append(measure(scenario, size_mb, args.seed, repeat))
    results = summarise(runs)
    print()
    print_table(results)
    ok = check_target(results)
    if args.json:
        report = {
            "machine": machine,
            "repeat": args.repeat,
            "results": [asdict(r) for r in results],
            "runs": [asdict(r) for r in runs],
            "target_ok": ok,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if args.strict and ok is False else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
