"""A profile's cut timings, corrected for the host's speed drifting while they were taken.

On a shared VM the CPU's speed drifts by 20-35% over minutes. The profiler times the whole
model before the first cut and after every WHOLE_EVERY cuts; a cut timed while the host ran
slow shows it in its figures, and nothing but the whole model's timings around it says so
(an old MobileNetV2 edge profile had its prefix at cut 100 cost more than the whole model).
So each cut's figures are scaled, per batch size, by the whole model's median over the run
divided by its timing at the moment the cut was timed (interpolated between the timings
before and after it). A burst of load shorter than that is the passes' business (the
profiler's PASSES: each cut's figure is the median of its timings in several passes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgesplit.orchestrator.profile import CutCost


def drift_factors(
    sampled_at: Sequence[float], samples: Sequence[Mapping[int, float]], at: float
) -> dict[int, float]:
    """Per batch size: the run's median whole-model time over the one at moment `at`
    (moments in cuts timed so far; `samples[i]` taken at `sampled_at[i]`, increasing)."""
    out = {}
    for b in samples[0]:
        times = [s[b] for s in samples]
        here = float(np.interp(at, sampled_at, times))
        out[b] = float(np.median(times)) / here if here > 0 else 1.0
    return out


def corrected(cost: CutCost, factors: Mapping[int, float]) -> CutCost:
    """`cost` with its timings (busy and after idle) scaled by `factors` (per batch size)."""
    return cost.map_times(lambda t: {b: ms * factors.get(b, 1.0) for b, ms in t.items()})
