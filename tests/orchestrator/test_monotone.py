"""The monotone fit of cut timings (pure, hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.orchestrator.monotone import fit, monotone_cuts
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
    out = monotone_cuts(noisy)
    assert [c.index for c in out] == [1, 2, 3]
    assert [c.prefix_ms[1] for c in out] == pytest.approx([1.8, 1.8, 3.0])
    assert [c.suffix_ms[1] for c in out] == pytest.approx([8.2, 8.2, 5.0])
    assert [c.prefix_ms[4] for c in out] == pytest.approx([7.2, 7.2, 12.0])
    assert monotone_cuts([]) == []
