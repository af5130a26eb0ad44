"""What /proc/stat says about a run: CPU steal, and how busy the host's CPUs were.

Steal is time this VM's vCPUs wanted to run while the hypervisor ran something else.
On a shared VM it comes in bursts: on the project's CI machine, from 2% to 76% of the CPU
over a few seconds, minutes apart. Inside the guest nothing shows it but /proc/stat: the
clock runs on, timers fire late, a run answers fewer frames per second and a CPU-bound
stage looks slower than its profile. Benchmarks read it around each run and report it;
the profiler reads it over its own run.

The host's busy share tells a run that the host itself limited: on the emulated tiers
the cloud tier's stages, the broker, the benchmark's camera and reader and the edge's
quota all share the host's CPUs. An MNIST CNN cut after its first layer ran at 1,010
frames/s with the host's 2 CPUs busy on about 2.0 ms a frame (broker 0.88, cloud stage
0.76, edge 0.21, benchmark 0.14), while each stage alone had room for 2,000.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# A run during which the hypervisor stole more of the CPU than this is worth measuring
# again: steal slows a run from outside the VM.
MAX_STEAL = 0.10
# A run with the host's CPUs busier than this (of their time not stolen) may have been
# limited by the host rather than by the tier or the link its plan predicts. In an MNIST
# CNN validation the runs the host limited (cuts 1-4, edge-bound predicted, 26-86% slower
# measured) had it 77-87% busy over the run (filling and draining included); all others
# 27-66%.
HOST_BUSY = 0.75
# How long to wait for a burst of steal to pass before measuring again, and the window
# read at a time while waiting.
CALM_WAIT_S = 30.0
CALM_WINDOW_S = 0.5


@dataclass(frozen=True)
class CpuClock:
    """All CPUs' time so far (user, nice, system, idle, iowait, irq, softirq, steal), the
    stolen part and the idle part (idle, iowait), in jiffies."""

    steal: int
    total: int
    idle: int = 0

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
        return cls(steal=ticks[7], total=sum(ticks), idle=ticks[3] + ticks[4])


def steal_since(before: CpuClock | None) -> float | None:
    """The share of the CPU time stolen since `before` (None when it cannot be known)."""
    after = CpuClock.now()
    if before is None or after is None or after.total <= before.total:
        return None
    return (after.steal - before.steal) / (after.total - before.total)


def busy_since(before: CpuClock | None) -> float | None:
    """The share of the CPUs' time not stolen since `before` that they were busy (None
    when it cannot be known)."""
    after = CpuClock.now()
    if before is None or after is None:
        return None
    ran = (after.total - before.total) - (after.steal - before.steal)
    if ran <= 0:
        return None
    return 1 - (after.idle - before.idle) / ran


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


def spin_steal(window_s: float = CALM_WINDOW_S) -> float | None:
    """The share of the time this process wanted to run but the hypervisor ran something
    else, over `window_s` of busy looping (None when it cannot be known). An idle guest
    shows no steal, even in a burst: only a vCPU that wants to run is denied, so the
    reading keeps one busy and counts stolen against busy time, not against all time."""
    before = CpuClock.now()
    end = time.perf_counter() + window_s
    while time.perf_counter() < end:
        pass
    after = CpuClock.now()
    if before is None or after is None:
        return None
    stolen = after.steal - before.steal
    ran = (after.total - before.total) - (after.idle - before.idle)
    return stolen / ran if ran > 0 else None


def wait_calm(
    most_s: float = CALM_WAIT_S, read: Callable[[], float | None] = spin_steal
) -> float | None:
    """Wait until a reading of `read` (a window of steal) is at most MAX_STEAL, or `most_s`
    seconds have passed; the last reading (None when steal cannot be read). A burst of
    steal lasts seconds to minutes: a run measured again at once often lands in it too
    (MobileNetV2 runs read 53% twice in a row)."""
    end = time.monotonic() + most_s
    while True:
        stolen = read()
        if stolen is None or stolen <= MAX_STEAL or time.monotonic() >= end:
            return stolen
