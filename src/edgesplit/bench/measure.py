"""What one benchmark measurement yields, and the arithmetic behind its figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Measurement:
    """One strategy at one uplink."""

    strategy: str  # split, edge-only, cloud-only, cloud-only-jpeg, rpc, unsplit, plan
    uplink: str  # "" where the network plays no part (unsplit)
    cut: int | None  # the cut index for split strategies
    frames: int  # answered in the throughput run
    throughput_fps: float
    p50_ms: float | None  # None: latency not measured for this row
    p95_ms: float | None
    bytes_per_frame: float  # over the uplink (0 when nothing crosses it)
    complete: bool = True  # False: the time budget ended the run early (a lower bound)
    note: str = ""
    steal: float | None = None  # the share of the host's CPU stolen during the throughput run


def steady_rate(times_us: Sequence[int], trim: float = 0.1) -> float:
    """Events per second between the `trim` and `1 - trim` quantiles of their times.

    The first events pay for start-up and the last ones for an emptying pipeline; neither
    is the rate it sustains. With too few events for quantiles, the plain rate over the span.
    """
    t = np.sort(np.asarray(times_us, dtype=np.float64))
    if len(t) >= 10:
        lo, hi = int(len(t) * trim), int(len(t) * (1 - trim)) - 1
    else:
        lo, hi = 0, len(t) - 1
    if hi <= lo or t[hi] <= t[lo]:
        return 0.0
    return float((hi - lo) / ((t[hi] - t[lo]) / 1e6))


def percentiles(values_ms: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    if v.size == 0:
        return 0.0, 0.0
    p50, p95 = np.percentile(v, [50, 95])
    return float(p50), float(p95)
