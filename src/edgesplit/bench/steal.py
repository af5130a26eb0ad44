"""CPU steal: time this VM's vCPUs wanted to run while the hypervisor ran something else.

On a shared VM it comes in bursts: on the project's CI machine, from 2% to 76% of the CPU
over a few seconds, minutes apart. Inside the guest nothing shows it but /proc/stat: the
clock runs on, timers fire late, a run answers fewer frames per second and a CPU-bound
stage looks slower than its profile. Benchmarks read it around each run and report it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# A run during which the hypervisor stole more of the CPU than this is worth measuring
# again: steal slows a run from outside the VM.
MAX_STEAL = 0.10


@dataclass(frozen=True)
class CpuClock:
    """All CPUs' time so far (user, nice, system, idle, iowait, irq, softirq, steal), and
    the stolen part, in jiffies."""

    steal: int
    total: int

    @classmethod
    def now(cls) -> CpuClock | None:
        """None where there is no /proc/stat with a steal column (not Linux, or too old)."""
        try:
            fields = PROC_STAT.read_text().split("\n", 1)[0].split()[1:9]
        except OSError:
            return None
        if len(fields) < 8:
            return None
        ticks = [int(x) for x in fields]
        return cls(steal=ticks[7], total=sum(ticks))


def steal_since(before: CpuClock | None) -> float | None:
    """The share of the CPU time stolen since `before` (None when it cannot be known)."""
    after = CpuClock.now()
    if before is None or after is None or after.total <= before.total:
        return None
    return (after.steal - before.steal) / (after.total - before.total)


def steal_summary(steals: Iterable[float | None]) -> str | None:
    """'median 1.2%, most 14%; 1/48 runs over 10%' (None when no run's steal is known)."""
    known = sorted(s for s in steals if s is not None)
    if not known:
        return None
    over = sum(s > MAX_STEAL for s in known)
    return (
        f"median {statistics.median(known):.1%}, most {known[-1]:.0%}; "
        f"{over}/{len(known)} runs over {MAX_STEAL:.0%}"
    )
