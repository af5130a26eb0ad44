"""Run stage models one after the other, as the stage runtime does, and compare."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edgesplit.orchestrator.graph import ModelGraph, StageGraph, TensorInfo

Array = npt.NDArray[Any]


def session(model: bytes | str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # no warnings about symbolic dims
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@cache
def frames(shape: tuple[int, ...], batch: int, seed: int) -> npt.NDArray[np.uint8]:
    """Photo-like uint8 frames: smooth gradients and stripes at a few scales, plus noise.

    Cached, so read-only.
    """
    rng = np.random.default_rng(seed)
    h, w = shape[0], shape[1]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((batch, *shape), dtype=np.uint8)
    for b in range(batch):
        img = np.zeros(shape)
        for _ in range(4):
            fy, fx = rng.uniform(-3, 3, 2)
            wave = np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
            img += wave[..., None] * rng.uniform(0.2, 1, shape[2:]) if len(shape) == 3 else wave
        img = (img - img.min()) / max(float(np.ptp(img)), 1e-6) * 255
        img += rng.normal(0, 12, shape)
        out[b] = np.clip(img, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


@cache
def _reference(
    reference: ort.InferenceSession, graph: ModelGraph, batch: int, seed: int
) -> tuple[dict[str, Array], list[Array]]:
    """The unsplit model's feeds and outputs, computed once per model, batch and seed."""
    feeds: dict[str, Array] = {t.name: frames(t.shape, batch, seed) for t in graph.inputs}
    return feeds, reference.run(None, feeds)


def check_record(record: dict[str, Array], expected: Sequence[TensorInfo], batch: int) -> None:
    """The record carries exactly the expected tensors, with their dtypes and shapes."""
    assert list(record) == [t.name for t in expected]
    for t in expected:
        value = record[t.name]
        assert value.dtype == np.dtype(t.dtype), t
        assert value.shape == (batch, *t.shape), t


def run_stages(
    stages: Sequence[StageGraph],
    sessions: Sequence[ort.InferenceSession],
    graph: ModelGraph,
    feeds: dict[str, Array],
    expected_records: Sequence[Sequence[TensorInfo]],
) -> dict[str, Array]:
    """Feed each stage from the record before it; check every record on the way."""
    batch = next(iter(feeds.values())).shape[0]
    record = {t.name: feeds[t.name] for t in graph.inputs}
    for stage, sess, expected in zip(stages, sessions, expected_records, strict=True):
        outs = sess.run(
            [t.name for t in stage.outputs], {t.name: record[t.name] for t in stage.inputs}
        )
        sent = dict(zip((t.name for t in stage.outputs), outs, strict=True))
        sent.update({t.name: record[t.name] for t in stage.passthrough})
        assert set(sent) == {t.name for t in expected}, "a record is exactly the next cut"
        record = {t.name: sent[t.name] for t in expected}
        check_record(record, expected, batch)
    return record


def split_error(
    graph: ModelGraph,
    reference: ort.InferenceSession,
    cut_indices: Sequence[int],
    batches: Sequence[int],
    seed: int = 0,
) -> float:
    """Max abs difference between the unsplit model and its split at `cut_indices`."""
    cuts = [graph.cut(i) for i in cut_indices]
    stages = graph.split(cuts)
    sessions = [session(s.onnx_bytes) for s in stages]
    records = [*(c.tensors for c in cuts), graph.outputs]
    worst = 0.0
    for batch in batches:
        feeds, want = _reference(reference, graph, batch, seed + batch)
        got = run_stages(stages, sessions, graph, feeds, records)
        for t, value in zip(graph.outputs, want, strict=True):
            worst = max(worst, float(np.max(np.abs(got[t.name] - value))))
    return worst
