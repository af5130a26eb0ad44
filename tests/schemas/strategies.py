"""Hypothesis strategies for tensors and records."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesplit.schemas import Activation, Frame, Prediction, Result, Tensor, TraceStamp
from edgesplit.schemas.encoding import DTYPES

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
TEXT = st.text(max_size=12)

dtypes = st.sampled_from(sorted(DTYPES)).map(np.dtype)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def arrays(dtype: Any = dtypes, *, finite: bool = False) -> st.SearchStrategy[np.ndarray[Any, Any]]:
    """Arrays of any supported dtype; `finite` keeps floats in [-1e3, 1e3] (lossy encodings)."""

    def of(dt: np.dtype[Any]) -> st.SearchStrategy[np.ndarray[Any, Any]]:
        if finite and dt.kind == "f":
            width: Literal[16, 32, 64] = {2: 16, 4: 32}.get(dt.itemsize, 64)  # type: ignore[assignment]
            return hnp.arrays(dt, shapes, elements=st.floats(-1e3, 1e3, width=width))
        return hnp.arrays(dt, shapes)

    return dtype.flatmap(of)  # type: ignore[no-any-return]


float_arrays = hnp.arrays(
    np.float32, shapes, elements=st.floats(-1e4, 1e4, width=32, allow_subnormal=False)
)

traces = st.lists(st.builds(TraceStamp, TEXT, INT64, INT64), max_size=4).map(tuple)
labels = st.none() | INT32


@st.composite
def tensors(
    draw: st.DrawFn, array: st.SearchStrategy[np.ndarray[Any, Any]] | None = None
) -> Tensor:
    return Tensor(draw(TEXT), draw(array if array is not None else arrays()))


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    return Frame(
        draw(TEXT),
        draw(TEXT),
        draw(INT64),
        draw(INT64),
        draw(tensors()),
        draw(labels),
        draw(traces),
    )


@st.composite
def activations(draw: st.DrawFn, array: Any = None) -> Activation:
    names = draw(st.lists(TEXT, max_size=3, unique=True))
    ts = tuple(Tensor(n, draw(array if array is not None else arrays())) for n in names)
    return Activation(
        draw(TEXT),
        draw(TEXT),
        draw(INT64),
        draw(INT64),
        draw(INT32),
        draw(INT32),
        ts,
        draw(labels),
        draw(traces),
    )


@st.composite
def results(draw: st.DrawFn) -> Result:
    topk = tuple(
        draw(
            st.lists(st.builds(Prediction, INT32, st.floats(width=32, allow_nan=False)), max_size=5)
        )
    )
    output = draw(st.none() | tensors())
    return Result(
        draw(TEXT),
        draw(TEXT),
        draw(INT64),
        draw(INT64),
        draw(INT32),
        draw(INT32),
        topk,
        output,
        draw(labels),
        draw(traces),
    )
