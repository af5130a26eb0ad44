from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesplit.stages.topk import top_k


def test_top_k_orders_classes_by_probability() -> None:
    preds = top_k(np.array([0.0, 3.0, 1.0, 2.0], np.float32), 3)
    assert [p.class_index for p in preds] == [1, 3, 2]
    e = np.exp([0.0, 3.0, 1.0, 2.0])
    assert abs(preds[0].score - e[1] / e.sum()) < 1e-9


@given(
    hnp.arrays(np.float32, st.integers(1, 50), elements=st.floats(-50, 50, width=32)),
    st.integers(1, 60),
)
def test_top_k_agrees_with_argmax(logits: np.ndarray[Any, Any], k: int) -> None:
    preds = top_k(logits, k)
    assert len(preds) == min(k, logits.size)
    assert logits[preds[0].class_index] == logits.max()
    assert all(a.score >= b.score for a, b in itertools.pairwise(preds))
