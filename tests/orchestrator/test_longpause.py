"""Figures after the long pause for the cuts not timed after it (pure, hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.longpause import fill, sampled
from edgesplit.orchestrator.profile import CutCost


def _cut(index: int, short: float, long: float | None = None) -> CutCost:
    """A cut whose prefix and suffix cost `short` after the short pause (and `long` after
    the long one, where timed)."""
    after = {} if long is None else {1: long}
    return CutCost(
        index=index, tensor=f"t{index}", bytes_per_frame=10,
        prefix_ms={1: short}, suffix_ms={1: short},
        prefix_idle_ms={1: short}, suffix_idle_ms={1: short},
        prefix_long_ms=after, suffix_long_ms=after,
    )  # fmt: skip


def test_every_nth_cut_and_the_last_are_timed() -> None:
    assert sampled(10, 4) == {0, 4, 8, 9}
    assert sampled(9, 4) == {0, 4, 8}
    assert sampled(3, 1) == {0, 1, 2}
    assert sampled(1, 4) == {0}
    assert sampled(0, 4) == set()


def test_a_cut_between_timed_ones_gets_its_own_short_figure_plus_their_penalty() -> None:
    # penalties 10 at cut 1, 30 at cut 5: cut 2 is a quarter of the way, so 15 on its own 50
    cuts = [_cut(1, 5.0, 15.0), _cut(2, 50.0), _cut(3, 60.0), _cut(5, 100.0, 130.0)]
    filled = fill(cuts)
    assert filled[0] == cuts[0] and filled[-1] == cuts[-1]  # timed: as they were
    assert filled[1].prefix_long_ms == {1: pytest.approx(50.0 + 10 + (30 - 10) / 3)}
    assert filled[2].suffix_long_ms == {1: pytest.approx(60.0 + 10 + 2 * (30 - 10) / 3)}


def test_at_either_end_the_nearest_timed_cut_alone_and_a_negative_penalty_is_none() -> None:
    cuts = [_cut(1, 5.0), _cut(2, 10.0, 8.0), _cut(3, 20.0, 25.0), _cut(4, 40.0)]
    filled = fill(cuts)
    assert filled[0].prefix_long_ms == {1: 5.0}  # cut 2 ran faster after the pause: noise
    assert filled[-1].prefix_long_ms == {1: 45.0}


def test_a_profile_without_long_figures_is_left_alone() -> None:
    cuts = [_cut(2, 3.0), _cut(1, 1.0)]
    assert fill(cuts) == [cuts[1], cuts[0]]  # in cut order


@given(
    st.lists(
        st.tuples(st.floats(0.01, 1e3), st.none() | st.floats(0.0, 1e3)), min_size=1, max_size=30
    )
)
def test_a_filled_penalty_lies_between_the_timed_ones(
    rows: list[tuple[float, float | None]],
) -> None:
    cuts = [_cut(i + 1, short, long) for i, (short, long) in enumerate(rows)]
    penalties = [max(long - short, 0.0) for short, long in rows if long is not None]
    for c, (short, long) in zip(fill(cuts), rows, strict=True):
        if long is not None:
            assert c.prefix_long_ms == {1: long}
        elif not penalties:
            assert c.prefix_long_ms == {}
        else:
            added = c.prefix_long_ms[1] - short
            assert min(penalties) - 1e-6 <= added <= max(penalties) + 1e-6
