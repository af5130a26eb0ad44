"""Cut timings pooled over the cuts (pure, hypothesis)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.complement import TINY_MS, pooled
from edgesplit.orchestrator.profile import CutCost


def _cut(index: int, prefix: float, suffix: float, long: float = 2.0) -> CutCost:
    return CutCost(
        index=index, tensor=f"t{index}", bytes_per_frame=10,
        prefix_ms={1: prefix}, suffix_ms={1: suffix},
        prefix_long_ms={1: prefix * long}, suffix_long_ms={1: suffix * long},
    )  # fmt: skip


def _whole(n: int, total: float, bad: int, suffix: float) -> list[CutCost]:
    """`n` cuts of a model whose prefix + suffix is `total`, cut `bad`'s suffix timed
    at `suffix` instead."""
    shares = [(i + 0.5) / n for i in range(n)]
    cuts = [_cut(i + 1, total * s, total * (1 - s)) for i, s in enumerate(shares)]
    cuts[bad] = _cut(bad + 1, cuts[bad].prefix_ms[1], suffix)
    return cuts


def test_an_early_cuts_suffix_timed_slow_moves_to_the_total_less_its_prefix() -> None:
    cuts = _whole(40, 10.0, 0, 12.0)  # its prefix 0.125 ms: the suffix is 9.875
    out = pooled(cuts)
    assert out[0].suffix_ms[1] == pytest.approx(9.875, rel=0.01)
    assert out[0].prefix_ms[1] == pytest.approx(0.125, rel=0.01)  # its own timing kept
    # the other cuts are left as they were: their sums are the median
    for before, after in zip(cuts[1:], out[1:], strict=True):
        assert after.suffix_ms[1] == pytest.approx(before.suffix_ms[1])


def test_a_middle_cuts_suffix_moves_about_halfway() -> None:
    cuts = _whole(40, 10.0, 20, 6.25)  # timed 5.125 + 6.25: 4.875 expected
    assert pooled(cuts)[20].suffix_ms[1] == pytest.approx(5.47, abs=0.02)


def test_a_late_cuts_suffix_keeps_its_own_timing() -> None:
    cuts = _whole(40, 10.0, 39, 0.2)  # 0.125 expected, the prefix 9.875 ± 10%
    assert pooled(cuts)[39].suffix_ms[1] == pytest.approx(0.2, rel=0.01)


def test_each_pause_is_pooled_over_its_own_figures() -> None:
    cuts = _whole(40, 10.0, 0, 12.0)
    out = pooled(cuts)
    assert out[0].suffix_long_ms[1] == pytest.approx(19.75, rel=0.01)  # 2 x 9.875
    assert out[0].prefix_idle_ms == {}  # no figures after the short pause: none made


def test_no_cuts_change_nothing() -> None:
    assert pooled([]) == []


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.floats(0.5, 1e3))
def test_timings_whose_sums_agree_are_left_alone(shares: list[float], total: float) -> None:
    cuts = [_cut(i + 1, total * s, total * (1 - s)) for i, s in enumerate(sorted(shares))]
    for before, after in zip(cuts, pooled(cuts), strict=True):
        for name in ("prefix_ms", "suffix_ms", "prefix_long_ms", "suffix_long_ms"):
            assert getattr(after, name)[1] == pytest.approx(
                getattr(before, name)[1], rel=1e-6, abs=1e-9
            )


@given(st.lists(st.tuples(st.floats(0.0, 2e3), st.floats(0.0, 2e3)), min_size=1, max_size=30))
def test_a_pooled_figure_lies_between_its_own_timing_and_the_complement(
    timings: list[tuple[float, float]],
) -> None:
    cuts = [_cut(i + 1, p, s) for i, (p, s) in enumerate(timings)]
    total = statistics.median(p + s for p, s in timings)
    for (p, s), after in zip(timings, pooled(cuts), strict=True):
        for own, other, new in (
            (p, max(total - s, 0.0), after.prefix_ms[1]),
            (s, max(total - p, 0.0), after.suffix_ms[1]),
        ):
            if own < TINY_MS:
                assert new == own
            else:
                assert min(own, other) * (1 - 1e-9) <= new <= max(own, other) * (1 + 1e-9)
