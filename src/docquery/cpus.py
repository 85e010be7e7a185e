"""The CPUs this process may use: its CPU affinity, bounded by its cgroup's CPU quota.

`os.cpu_count()` counts the host's CPUs: inside a 1-vCPU ECS task on a larger host it reports
them all, and work sized by it starts processes that can never run side by side. Python 3.13's
`os.process_cpu_count()` takes the affinity into account but not the quota, and we run on 3.11.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(
    *, cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> int:
    """The CPUs we may run on at once: the affinity, at most the quota rounded up; at least 1."""
    cpus = _affinity()
    quota = cgroup_cpu_quota(cgroup_root=cgroup_root, proc_self_cgroup=proc_self_cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):  # not on macOS
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_cpu_quota(
    *, cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> float | None:
    """The tightest CPU quota, in CPUs, of this process's cgroup and the ancestors we can see
    (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`); None if none."""
    v2_path, v1_path = _own_cgroups(proc_self_cgroup)
    quotas = [
        quota
        for directory in _with_ancestors(cgroup_root, v2_path)
        if (quota := _v2_quota(directory / "cpu.max")) is not None
    ]
    for mount in ("cpu,cpuacct", "cpu"):
        quotas += [
            quota
            for directory in _with_ancestors(cgroup_root / mount, v1_path)
            if (quota := _v1_quota(directory)) is not None
        ]
    return min(quotas, default=None)


def _own_cgroups(proc_self_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup path in the v2 hierarchy and in v1's cpu controller ("/" if unknown).

    Lines read `<hierarchy id>:<controllers>:<path>`; v2's has no controllers.
    """
    v2 = v1 = "/"
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if not controllers:
            v2 = path or "/"
        elif "cpu" in controllers.split(","):
            v1 = path or "/"
    return v2, v1


def _with_ancestors(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory under `mount` and its parents up to the mount. Without a cgroup
    namespace the path is the host's while the mount shows only our own cgroup: then that."""
    directory = mount / path.strip("/")
    if not directory.is_dir():
        return [mount]
    found = [directory]
    while directory != mount:
        directory = directory.parent
        found.append(directory)
    return found


def _v2_quota(cpu_max: Path) -> float | None:
    """`<quota> <period>` in µs, or `max <period>` for no limit."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else _ratio(int(quota), int(period))
    except (OSError, ValueError):  # absent (the root cgroup has none), or not what we know
        return None


def _v1_quota(directory: Path) -> float | None:
    """`cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`."""
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return _ratio(quota, period)


def _ratio(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None
