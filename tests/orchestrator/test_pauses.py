"""A run's cost after a wait, between the profile's timings after a short and a long pause."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.profile import Pauses

ms = st.floats(0.01, 1000)


def test_the_figure_after_a_wait_follows_the_pauses() -> None:
    pauses = Pauses(idle_s=0.02, long_s=2.0)
    busy, idle, long = {1: 25.0}, {1: 26.0}, {1: 105.0}
    assert pauses.after(0.0, busy, idle, long) == busy  # back to back
    assert pauses.after(0.005, busy, idle, long) == idle  # no longer than the short pause
    assert pauses.after(1.01, busy, idle, long)[1] == 26.0 + 79.0 * 0.5
    assert pauses.after(4.0, busy, idle, long) == long  # the long figure beyond its pause
    assert Pauses(long_s=0.0).after(4.0, busy, idle, {}) == idle  # a profile without one


@given(busy=ms, idle=ms, long=ms, waits=st.lists(st.floats(0, 10), min_size=2, max_size=2))
def test_a_longer_wait_never_costs_less_and_never_less_than_busy(
    busy: float, idle: float, long: float, waits: list[float]
) -> None:
    pauses = Pauses(idle_s=0.02, long_s=2.0)
    short, longer = sorted(waits)
    a = pauses.after(short, {4: busy}, {4: idle}, {4: long})[4]
    b = pauses.after(longer, {4: busy}, {4: idle}, {4: long})[4]
    ulp = 1 + 1e-12  # rounding
    assert busy <= a * ulp and a <= b * ulp and b <= max(busy, idle, long) * ulp
