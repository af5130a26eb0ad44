"""The monotone fit of cut timings (pure, hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.monotone import fit, monotone_profile
from edgesplit.orchestrator.profile import CutCost

values = st.lists(st.floats(0.0, 1e4, allow_nan=False), max_size=40)


@given(values)
def test_the_fit_is_monotone_and_keeps_the_sum(ys: list[float]) -> None:
    up, down = fit(ys), fit(ys, increasing=False)
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(up))
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(down))
    assert sum(up) == pytest.approx(sum(ys), rel=1e-9, abs=1e-6)  # pooled into block means
    assert sum(down) == pytest.approx(sum(ys), rel=1e-9, abs=1e-6)


@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), max_size=40).map(sorted))
def test_monotone_figures_are_left_alone(ys: list[float]) -> None:
    assert fit(ys) == pytest.approx(ys)


def test_contradicting_neighbours_are_pooled_into_their_mean() -> None:
    assert fit([1.0, 3.0, 2.0, 4.0]) == [1.0, 2.5, 2.5, 4.0]
    assert fit([5.0, 6.0, 1.0], increasing=False) == [5.5, 5.5, 1.0]


def _cut(index: int, prefix: float, suffix: float) -> CutCost:
    return CutCost(
        index=index, tensor=f"t{index}", bytes_per_frame=10,
        prefix_ms={1: prefix, 4: 4 * prefix}, suffix_ms={1: suffix, 4: 4 * suffix},
    )  # fmt: skip


def test_cut_costs_get_nested_prefixes_per_batch_size_in_cut_order() -> None:
    noisy = [_cut(3, 3.0, 5.0), _cut(1, 2.0, 8.0), _cut(2, 1.6, 8.4)]  # cut 2 timed fast
    out, _ = monotone_profile(noisy, {})
    assert [c.index for c in out] == [1, 2, 3]
    assert [c.prefix_ms[1] for c in out] == pytest.approx([1.8, 1.8, 3.0])
    assert [c.suffix_ms[1] for c in out] == pytest.approx([8.2, 8.2, 5.0])
    assert [c.prefix_ms[4] for c in out] == pytest.approx([7.2, 7.2, 12.0])
    assert monotone_profile([], {}) == ([], {})


def test_the_whole_model_is_the_last_prefix_and_the_first_suffix() -> None:
    cuts = [_cut(1, 10.0, 72.0), _cut(2, 80.0, 3.0), _cut(3, 83.0, 0.5)]
    out, whole = monotone_profile(cuts, {1: 80.0})  # timed faster than cut 3's prefix
    assert whole[1] == pytest.approx(81.5) and out[2].prefix_ms[1] == pytest.approx(81.5)
    assert out[0].prefix_ms[1] == 10.0 and out[0].suffix_ms[1] == 72.0  # consistent: kept
    assert 4 not in whole and out[2].prefix_ms[4] == 4 * 83.0  # no whole figure at 4: as before
    light = [_cut(1, 10.0, 72.0), _cut(2, 20.0, 30.0)]
    _, whole = monotone_profile(light, {1: 70.0})  # faster than cut 1's suffix
    assert whole[1] == pytest.approx(71.0)  # the higher of its two fitted figures
    assert monotone_profile(cuts, {1: 90.0})[1] == {1: 90.0}  # consistent: kept
    assert monotone_profile([], {1: 5.0}) == ([], {1: 5.0})


@given(
    st.lists(st.tuples(st.floats(0.0, 1e3), st.floats(0.0, 1e3)), max_size=20), st.floats(0.0, 1e3)
)
def test_the_whole_model_is_never_faster_than_a_stage_of_it(
    times: list[tuple[float, float]], whole_ms: float
) -> None:
    cuts = [_cut(i, p, s) for i, (p, s) in enumerate(times, 1)]
    out, whole = monotone_profile(cuts, {1: whole_ms, 4: 4 * whole_ms})
    for b in (1, 4):
        assert all(
            c.prefix_ms[b] <= whole[b] + 1e-6 and c.suffix_ms[b] <= whole[b] + 1e-6 for c in out
        )
        assert all(a.prefix_ms[b] <= c.prefix_ms[b] + 1e-6 for a, c in itertools.pairwise(out))


def test_timings_after_idle_are_fitted_too() -> None:
    def idle(pre: float, suf: float) -> dict[str, dict[int, float]]:
        return {"prefix_idle_ms": {1: pre}, "suffix_idle_ms": {1: suf}}

    noisy = [
        _cut(1, 2.0, 8.0).model_copy(update=idle(3.0, 9.0)),
        _cut(2, 1.6, 8.4).model_copy(update=idle(2.0, 9.4)),
    ]
    out, _ = monotone_profile(noisy, {1: 10.0})
    assert [c.prefix_idle_ms[1] for c in out] == pytest.approx([2.5, 2.5])
    assert [c.suffix_idle_ms[1] for c in out] == pytest.approx([9.2, 9.2])
    assert [c.prefix_ms[1] for c in out] == pytest.approx([1.8, 1.8])  # busy: as before
    old = monotone_profile([_cut(1, 2.0, 8.0)], {})[0][0]  # a profile from before: none
    assert old.prefix_idle_ms == {} and old.suffix_idle_ms == {}
