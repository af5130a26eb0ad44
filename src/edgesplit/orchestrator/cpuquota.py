"""The CPUs this process may use: the tightest CFS quota on its cgroup's way to the root
(cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`), never more than the CPUs it may be
scheduled on. The profiler spreads CPU time over them; the testbed's edge is such a
quota.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def cpu_quota(proc: Path = Path("/proc/self"), root: Path = Path("/sys/fs/cgroup")) -> float:
    """CPUs this process may use: its cgroup's CFS quota (v2 cpu.max or v1), else the count.

    The tightest quota on the way from the process's cgroup to the root counts, and never
    more than the CPUs the process may be scheduled on.
    """
    available = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    try:
        lines = (proc / "cgroup").read_text().splitlines()
    except OSError:
        return available
    quotas: list[float] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = Path(path.lstrip("/"))
        if controllers == "":  # v2
            quotas += _walk(root / rel, root, _v2_quota)
            quotas += _walk(root / "unified" / rel, root / "unified", _v2_quota)
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                if mount.is_dir():
                    quotas += _walk(mount / rel, mount, _v1_quota)
                    break
    return min([available, *quotas])


def _walk(leaf: Path, top: Path, read: Callable[[Path], float | None]) -> list[float]:
    found = []
    here = leaf
    while True:
        value = read(here)
        if value is not None:
            found.append(value)
        if here == top or top not in here.parents:
            return found
        here = here.parent


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
