"""`python3 scripts/dev.py serve`: a signal to the wrapper stops the whole server, port and all."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="reads /proc and sends POSIX signals"),
]

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "scripts" / "dev.py"


def wrapper_root(tmp: Path) -> Path:
    """A copy of the project's dev.py beside a `.venv` that links to this one, its stamp current.

    The copy sees an environment that is already set up, so it never runs pip (tests are
    offline), whatever other changes to pyproject.toml are in flight in the working tree.
    """
    root = tmp / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(DEV, root / "scripts" / "dev.py")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, root / name)
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "docquery"):
        (bin_dir / name).symlink_to(Path(sys.executable).parent / name)
    spec = importlib.util.spec_from_file_location("dev_copy", root / "scripts" / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    dev.STAMP.write_text(dev._fingerprint("dev"))
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc's parent links."""
    parents: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in lines if line.startswith("PPid:")), "0")
        parents[int(status.parent.name)] = int(ppid)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(check: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _collect(stream: IO[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


class DevServe:
    """`python3 scripts/dev.py serve --port PORT` with its stderr collected line by line."""

    def __init__(self, root: Path, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCQUERY_", "AWS_"))}
        env |= {"DOCQUERY_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stderr: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(root / "scripts" / "dev.py"), "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self._reader = threading.Thread(
            target=_collect, args=(self.process.stderr, self.stderr), daemon=True
        )
        self._reader.start()

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def cleanup(self, tree: set[int]) -> None:
        """Kill whatever is left (the wrapper, orphans), so a failing run leaks nothing."""
        for pid in {self.process.pid, *tree}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def dev_serve(tmp_path: Path) -> Iterator[DevServe]:
    server = DevServe(wrapper_root(tmp_path), tmp_path / "data", free_port())
    tree: set[int] = set()
    try:
        wait_until(server.answers, timeout=60, what="dev.py serve to answer /healthz")
        # The pipeline's extraction worker runs below the server: a tree, not one process.
        tree = descendants(server.process.pid)
        yield server
    finally:
        server.cleanup(tree | descendants(server.process.pid))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_wrapper_stops_the_server_and_frees_the_port(
    dev_serve: DevServe, signum: signal.Signals
) -> None:
    tree = descendants(dev_serve.process.pid)
    assert tree, "the server started no extraction worker"
    dev_serve.process.send_signal(signum)
    dev_serve.process.wait(timeout=30)
    wait_until(lambda: port_is_free(dev_serve.port), timeout=15, what="the port to be freed")
    wait_until(
        lambda: not any(alive(pid) for pid in tree), timeout=15, what="the process tree to exit"
    )
    assert not dev_serve.answers()


def test_start_line_names_the_url_the_docs_and_the_data_dir(
    dev_serve: DevServe, tmp_path: Path
) -> None:
    starts = [line for line in dev_serve.stderr if not line.startswith("{")]
    url = f"http://127.0.0.1:{dev_serve.port}"
    [line] = [line for line in starts if url in line]
    assert f"{url}/docs" in line
    assert str((tmp_path / "data").resolve()) in line


def test_the_subprocess_fallback_passes_sigterm_on() -> None:
    """Where exec is not used (Windows), SIGTERM to the wrapper still stops its child."""
    child = "import time; print('up', flush=True); time.sleep(120)"
    wrapper = (
        "import sys; sys.path.insert(0, sys.argv[1]); import dev; "
        f"sys.exit(dev._run_forwarding([sys.executable, '-c', {child!r}]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", wrapper, str(DEV.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    tree: set[int] = set()
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "up"
        tree = descendants(process.pid)
        assert tree
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        wait_until(lambda: not any(alive(pid) for pid in tree), timeout=15, what="the child")
    finally:
        for pid in {process.pid, *tree}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
