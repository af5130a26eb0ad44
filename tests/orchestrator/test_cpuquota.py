"""The CPU quota read from a cgroup tree, v2 and v1."""

from __future__ import annotations

import os
from pathlib import Path

from edgesplit.orchestrator.cpuquota import cpu_quota


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_quota_reads_the_cgroup(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    _write(v2 / "proc" / "cgroup", "0::/bench/edge\n")
    _write(v2 / "fs" / "bench" / "edge" / "cpu.max", "50000 100000\n")
    _write(v2 / "fs" / "bench" / "cpu.max", "max 100000\n")
    assert cpu_quota(v2 / "proc", v2 / "fs") == min(0.5, cpus)
    _write(v1 / "proc" / "cgroup", "4:memory:/x\n2:cpu,cpuacct:/edgesplit-edge\n")
    _write(v1 / "fs" / "cpu,cpuacct" / "edgesplit-edge" / "cpu.cfs_quota_us", "2500\n")
    _write(v1 / "fs" / "cpu,cpuacct" / "edgesplit-edge" / "cpu.cfs_period_us", "10000\n")
    _write(v1 / "fs" / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    _write(v1 / "fs" / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(v1 / "proc", v1 / "fs") == min(0.25, cpus)
    assert cpu_quota(tmp_path / "none", tmp_path / "none") == cpus
