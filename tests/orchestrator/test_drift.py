"""A profile's cut timings corrected for the host's speed drifting while they were taken, and
the median of each cut's passes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.drift import corrected, drift_factors
from edgesplit.orchestrator.profile import CutCost
from edgesplit.orchestrator.profiler import median_of


def test_a_cut_timed_while_the_host_ran_slow_is_scaled_back() -> None:
    # The whole model took 10 ms at the start, 12.5 ms after 8 cuts (the host 25% slower
    # there), 10 ms after 16: a cut timed at moment 8 is scaled by 10 / 12.5.
    sampled_at, samples = [0.0, 8.0, 16.0], [{1: 10.0}, {1: 12.5}, {1: 10.0}]
    assert drift_factors(sampled_at, samples, 8.0) == {1: pytest.approx(0.8)}
    assert drift_factors(sampled_at, samples, 4.0) == {1: pytest.approx(10 / 11.25)}
    assert drift_factors(sampled_at, samples, 0.5) == {1: pytest.approx(10 / 10.15625)}
    cost = CutCost(index=3, tensor="t", bytes_per_frame=4, prefix_ms={1: 5.0}, suffix_ms={1: 7.5})
    fixed = corrected(cost, {1: 0.8})
    assert (fixed.prefix_ms, fixed.suffix_ms) == ({1: 4.0}, {1: 6.0})
    assert fixed.index == 3 and fixed.bytes_per_frame == 4


@given(st.lists(st.floats(1.0, 100.0), min_size=1, max_size=8), st.floats(0.0, 10.0))
def test_a_steady_host_changes_nothing(times: list[float], at: float) -> None:
    steady = [{1: times[0], 4: 4 * times[0]}] * len(times)
    factors = drift_factors([float(i) for i in range(len(times))], steady, at)
    assert factors == {1: pytest.approx(1.0), 4: pytest.approx(1.0)}


def test_a_burst_during_one_pass_does_not_move_a_cuts_figure() -> None:
    def timed(prefix: float, suffix: float) -> CutCost:
        return CutCost(
            index=3, tensor="t", bytes_per_frame=4, prefix_ms={1: prefix, 4: 4 * prefix},
            suffix_ms={1: suffix, 4: 4 * suffix},
        )  # fmt: skip

    figure = median_of([timed(5.0, 7.0), timed(9.0, 12.0), timed(5.2, 6.8)])  # pass 2: a burst
    assert figure.prefix_ms == {1: 5.2, 4: 20.8}
    assert figure.suffix_ms == {1: 7.0, 4: 28.0}
    assert figure.index == 3 and figure.tensor == "t"
