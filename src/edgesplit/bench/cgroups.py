"""The edge's CPU: a cgroup whose CFS quota caps it at `edge_cpu` CPUs.

cgroup v2 (`cpu.max`) where the machine has the cpu controller on the unified
hierarchy, else the v1 cpu hierarchy (`cpu.cfs_period_us` / `cpu.cfs_quota_us`).

The period is 10 ms, not the kernel's default 100 ms: at 0.5 CPU a 100 ms period lets a
process run 50 ms flat out and then stalls it for 50 ms, a lumpy half-speed that no
real slow CPU has; 10 ms keeps the stalls short (the quota never goes below the
kernel's 1 ms minimum: very small quotas get a longer period). The group also gets ten
times the default CPU weight: the quota caps the edge, the weight keeps the host's own
load from starving it below its quota, so the edge is as fast as it was told to be.
"""

from __future__ import annotations

import errno
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from edgesplit.bench.processes import stop_all
from edgesplit.errors import ConfigError, TestbedError
from edgesplit.log import get_logger

log = get_logger("testbed.cgroups")

PERIOD_US = 10_000
MIN_QUOTA_US = 1_000
WEIGHT_V1 = 10 * 1024  # cpu.shares, default 1024
WEIGHT_V2 = 10 * 100  # cpu.weight, default 100


@dataclass(frozen=True)
class CpuController:
    """Where cgroups with the cpu controller are made, and which interface they speak."""

    version: int
    root: Path


@dataclass(frozen=True)
class Quota:
    period_us: int
    quota_us: int

    @property
    def cpus(self) -> float:
        return self.quota_us / self.period_us


def quota_for(cpus: float) -> Quota:
    """`cpus` CPUs as a CFS period and quota (10 ms period; quota at least 1 ms)."""
    limit = os.cpu_count() or 1
    if not 0.01 <= cpus <= limit:
        raise ConfigError(f"edge CPU {cpus:g} is out of range: give 0.01 to {limit} (CPUs)")
    period = max(PERIOD_US, math.ceil(MIN_QUOTA_US / cpus))
    return Quota(period, round(cpus * period))


def detect(mountinfo: str | None = None) -> CpuController:
    """The cgroup hierarchy that has the cpu controller: v2 if it does, else v1."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    v1: Path | None = None
    for line in text.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, extra = fields.split(), tail.split()
        if len(parts) < 5 or len(extra) < 3:
            continue
        mountpoint, fstype, options = Path(parts[4]), extra[0], extra[2].split(",")
        if fstype == "cgroup2" and _has_cpu_v2(mountpoint):
            return CpuController(2, mountpoint)
        if fstype == "cgroup" and "cpu" in options and v1 is None:
            v1 = mountpoint
    if v1 is not None:
        return CpuController(1, v1)
    raise TestbedError(
        "no cgroup hierarchy with the cpu controller is mounted; mount one (cgroup v2 at "
        "/sys/fs/cgroup, or v1: `mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu`)"
    )


def _has_cpu_v2(mountpoint: Path) -> bool:
    try:
        return "cpu" in (mountpoint / "cgroup.controllers").read_text().split()
    except OSError:
        return False


class CpuCgroup:
    """One cgroup of the cpu controller, by path: create, cap, list, empty and remove."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version

    @classmethod
    def under(cls, controller: CpuController, name: str) -> CpuCgroup:
        return cls(controller.root / name, controller.version)

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def exists(self) -> bool:
        return self.procs_file.exists()

    def create(self) -> None:
        if self.version == 2:
            self._enable_cpu_in_parent()
        self.path.mkdir(exist_ok=True)
        if self.version == 1:
            self._write("cpu.shares", str(WEIGHT_V1))
        else:
            self._write("cpu.weight", str(WEIGHT_V2))
        log.info("edge_cgroup_created", path=str(self.path), version=self.version)

    def set_quota(self, quota: Quota) -> None:
        """Cap the group (live: processes inside feel it from the next period)."""
        if self.version == 2:
            self._write("cpu.max", f"{quota.quota_us} {quota.period_us}")
        else:
            self._write("cpu.cfs_period_us", str(quota.period_us))
            self._write("cpu.cfs_quota_us", str(quota.quota_us))
        log.info("edge_cpu_capped", cpus=quota.cpus, period_us=quota.period_us)

    def quota(self) -> Quota | None:
        """The cap in force (None: uncapped or gone)."""
        try:
            if self.version == 2:
                max_, period = (self.path / "cpu.max").read_text().split()
            else:
                max_ = (self.path / "cpu.cfs_quota_us").read_text().strip()
                period = (self.path / "cpu.cfs_period_us").read_text().strip()
        except (OSError, ValueError):
            return None
        if max_ in ("max", "-1"):
            return None
        return Quota(int(period), int(max_))

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in self.procs_file.read_text().split()]
        except OSError:
            return []

    def empty(self, grace_s: float = 5.0) -> list[int]:
        """Stop what runs inside (SIGTERM, then SIGKILL); return the pids that were there."""
        return stop_all(self.pids, f"cgroup {self.path}", grace_s)

    def remove(self, timeout_s: float = 5.0) -> None:
        """Empty the group and delete it; idempotent."""
        if not self.path.exists():
            return
        self.empty()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:  # EBUSY while the last exits are accounted
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise TestbedError(f"cannot remove the cgroup {self.path}: {exc}") from exc
                time.sleep(0.05)
        log.info("edge_cgroup_removed", path=str(self.path))

    def _write(self, name: str, value: str) -> None:
        try:
            (self.path / name).write_text(value)
        except OSError as exc:
            raise TestbedError(f"cannot write {value!r} to {self.path / name}: {exc}") from exc

    def _enable_cpu_in_parent(self) -> None:
        control = self.path.parent / "cgroup.subtree_control"
        if "cpu" in control.read_text().split():
            return
        try:
            control.write_text("+cpu")
        except OSError as exc:
            raise TestbedError(
                f"cannot enable the cpu controller for the children of {self.path.parent} "
                f"({exc.strerror}); with cgroup v2 that needs a parent without processes "
                "of its own (move them into a child cgroup first)"
            ) from exc
