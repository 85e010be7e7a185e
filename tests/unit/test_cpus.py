"""usable_cpus: the affinity, bounded by a cgroup v2 or v1 CPU quota, from fake cgroup trees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docquery.cpus import cgroup_cpu_quota, usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc_self_cgroup(tmp_path: Path) -> Path:
    return tmp_path / "proc-self-cgroup"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup").mkdir()
    return tmp_path / "cgroup"


def quota(root: Path, proc_self_cgroup: Path) -> float | None:
    return cgroup_cpu_quota(cgroup_root=root, proc_self_cgroup=proc_self_cgroup)


def cpus(root: Path, proc_self_cgroup: Path) -> int:
    return usable_cpus(cgroup_root=root, proc_self_cgroup=proc_self_cgroup)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("25000 100000\n", 0.25)],
)
def test_cgroup_v2_quota(root: Path, proc_self_cgroup: Path, cpu_max: str, expected: float) -> None:
    write(proc_self_cgroup, "0::/\n")
    write(root / "cpu.max", cpu_max)
    assert quota(root, proc_self_cgroup) == expected


@pytest.mark.parametrize(
    ("quota_us", "expected"), [("-1\n", None), ("150000\n", 1.5), ("400000\n", 4.0)]
)
@pytest.mark.parametrize("mount", ["cpu,cpuacct", "cpu"])
def test_cgroup_v1_quota(
    root: Path, proc_self_cgroup: Path, mount: str, quota_us: str, expected: float | None
) -> None:
    write(proc_self_cgroup, "12:memory:/\n4:cpu,cpuacct:/\n0::/\n")
    write(root / mount / "cpu.cfs_quota_us", quota_us)
    write(root / mount / "cpu.cfs_period_us", "100000\n")
    assert quota(root, proc_self_cgroup) == expected


def test_the_tightest_quota_of_the_cgroup_and_its_ancestors(
    root: Path, proc_self_cgroup: Path
) -> None:
    # An ECS task's limit sits on the task's cgroup, not the container's below it.
    write(proc_self_cgroup, "0::/ecs/task/container\n")
    write(root / "ecs" / "task" / "container" / "cpu.max", "max 100000\n")
    write(root / "ecs" / "task" / "cpu.max", "50000 100000\n")
    write(root / "ecs" / "cpu.max", "800000 100000\n")
    assert quota(root, proc_self_cgroup) == 0.5


def test_a_host_path_not_under_the_mount_reads_the_mount_itself(
    root: Path, proc_self_cgroup: Path
) -> None:
    # cgroup v1 without a cgroup namespace: the path is the host's, the mount is our cgroup.
    write(proc_self_cgroup, "3:cpu,cpuacct:/docker/0123abcd\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "100000\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert quota(root, proc_self_cgroup) == 1.0


def test_no_cgroup_files_or_unreadable_ones_mean_no_quota(
    root: Path, proc_self_cgroup: Path
) -> None:
    assert quota(root, proc_self_cgroup) is None  # not even /proc/self/cgroup
    write(proc_self_cgroup, "0::/\n")
    write(root / "cpu.max", "garbage\n")
    assert quota(root, proc_self_cgroup) is None
    assert cpus(root, proc_self_cgroup) == AFFINITY


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("25000 100000", 1),  # a quarter of a CPU is still one to run on
        ("100000 100000", 1),
        ("150000 100000", min(AFFINITY, 2)),  # rounded up
        ("6400000 100000", AFFINITY),  # never more than the CPUs we may be scheduled on
        ("max 100000", AFFINITY),
    ],
)
def test_usable_cpus_is_the_affinity_bounded_by_the_quota(
    root: Path, proc_self_cgroup: Path, cpu_max: str, expected: int
) -> None:
    write(proc_self_cgroup, "0::/\n")
    write(root / "cpu.max", cpu_max)
    assert cpus(root, proc_self_cgroup) == expected


def test_usable_cpus_follows_the_affinity() -> None:
    """A real affinity of one CPU, in a child process so that this one keeps its CPUs."""
    script = (
        "import os; from docquery.cpus import usable_cpus;"
        " os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); print(usable_cpus())"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert child.stdout.strip() == "1"


def test_auto_search_workers_count_the_cpus_we_may_use(tmp_path: Path) -> None:
    """SEARCH_WORKERS=auto in a process allowed one CPU: no workers (os.cpu_count() said more)."""
    script = (
        "import os; from docquery.settings import Settings;"
        " os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        " print(Settings(_env_file=None).effective_search_workers)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCQUERY_", "AWS_"))}
    env["SEARCH_WORKERS"] = "auto"
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert child.stdout.strip() == "0"
