"""Top-1 agreement of lossy activation encodings with the unsplit model, cached per model.

For each single-tensor cut: prefix -> encode each frame's activation as a stage would
(one Activation record per frame) -> decode -> suffix, compared with the unsplit model's
top-1 on the same real frames. The figure depends on the model and the frames only, not
on the tier, so it is computed once (on the host) and cached as JSON under the cache
directory; a profile run on the edge reads the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import ConfigError
from edgesplit.log import get_logger
from edgesplit.orchestrator.builder import spec
from edgesplit.orchestrator.graph import Cut, ModelGraph
from edgesplit.orchestrator.inputs import model_frames
from edgesplit.schemas import Activation, Tensor, TensorEncoding
from edgesplit.schemas.codec import decode_activation, encode_activation
from edgesplit.stages.executor import Executor

LOSSY = ("fp16", "int8")
CHUNK = 32  # frames per run: big enough to batch, small enough for early cuts' activations
_FLOATS = ("float16", "float32", "float64")

Array = np.ndarray[Any, Any]
Progress = Callable[[int, int, str], None]
log = get_logger("orchestrator.agreement")


def cache_file(cache: Path, onnx_sha256: str, frames: int) -> Path:
    return cache / "profiles" / f"agreement-{onnx_sha256[:16]}-{frames}.json"


def top1(logits: Array) -> Array:
    best: Array = np.asarray(logits).reshape(len(logits), -1).argmax(axis=1)
    return best


def roundtrip(name: str, batch: Array, encoding: TensorEncoding) -> Array:
    """Each frame of `batch` through an Activation record in `encoding` and back."""
    out = np.empty_like(batch)
    for i, frame in enumerate(batch):
        act = Activation(f"agreement-{i}", "profiler", i, 0, 0, 0, (Tensor(name, frame),))
        out[i] = decode_activation(encode_activation(act, encoding)).tensors[0].array
    return out


def measure(
    graph: ModelGraph,
    whole: Executor,
    frames: Array,
    *,
    threads: int = 1,
    encodings: Sequence[str] = LOSSY,
    progress: Progress | None = None,
) -> dict[int, dict[str, float]]:
    """cut index -> encoding -> top-1 agreement with `whole` on `frames`."""
    name = graph.inputs[0].name
    reference = top1(whole.run_all({name: frames}, CHUNK)[graph.outputs[0].name])
    cuts = [c for c in graph.cuts() if c.single]
    out: dict[int, dict[str, float]] = {}
    for done, cut in enumerate(cuts):
        out[cut.index] = _cut_agreement(graph, cut, frames, reference, threads, encodings)
        if progress is not None:
            progress(done + 1, len(cuts), f"agreement at cut {cut.index}")
    return out


def _cut_agreement(
    graph: ModelGraph,
    cut: Cut,
    frames: Array,
    reference: Array,
    threads: int,
    encodings: Sequence[str],
) -> dict[str, float]:
    tensor = cut.tensors[0]
    if tensor.dtype not in _FLOATS:  # lossy encodings leave other tensors raw: exact
        return dict.fromkeys(encodings, 1.0)
    first, second = graph.split([cut])
    prefix = Executor(first.onnx_bytes, [spec(t) for t in first.inputs],
                      [spec(t) for t in first.outputs], threads=threads)  # fmt: skip
    suffix = Executor(second.onnx_bytes, [spec(t) for t in second.inputs],
                      [spec(t) for t in second.outputs], threads=threads)  # fmt: skip
    parsed = {e: TensorEncoding.parse(e) for e in encodings}
    agree = dict.fromkeys(encodings, 0)
    feed, result = graph.inputs[0].name, graph.outputs[0].name
    for lo in range(0, len(frames), CHUNK):
        acts = prefix.run({feed: frames[lo : lo + CHUNK]})[tensor.name]
        want = reference[lo : lo + CHUNK]
        for enc, parsed_enc in parsed.items():
            lossy = roundtrip(tensor.name, acts, parsed_enc)
            got = top1(suffix.run({tensor.name: lossy})[result])
            agree[enc] += int((got == want).sum())
    return {enc: n / len(frames) for enc, n in agree.items()}


def load_cached(path: Path, cuts: Sequence[int]) -> dict[int, dict[str, float]] | None:
    """The cached figures if the file covers every cut in `cuts`, else None."""
    try:
        raw = json.loads(path.read_text())
        table = {int(k): {e: float(v) for e, v in row.items()} for k, row in raw["cuts"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return table if set(cuts) <= set(table) else None


def save_cached(path: Path, onnx_sha256: str, frames: int, table: Mapping[int, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.write_text(
            json.dumps(
                {
                    "onnx_sha256": onnx_sha256,
                    "frames": frames,
                    "cuts": {str(k): v for k, v in sorted(table.items())},
                },
                indent=1,
            )
        )
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the agreement cache {path}: {exc}") from exc
    log.info("agreement_cached", path=str(path), cuts=len(table), frames=frames)


def agreement_table(
    graph: ModelGraph,
    onnx_path: Path,
    onnx_sha256: str,
    frames: int,
    *,
    cache: Path,
    threads: int = 1,
    progress: Progress | None = None,
) -> dict[int, dict[str, float]]:
    """The cached figures for this model and frame count, measured first if not cached."""
    path = cache_file(cache, onnx_sha256, frames)
    singles = [c.index for c in graph.cuts() if c.single]
    cached = load_cached(path, singles)
    if cached is not None:
        log.info("agreement_read", path=str(path), cuts=len(cached))
        return cached
    info = graph.inputs[0]
    inputs = model_frames(info, frames, cache=cache)
    whole = Executor(onnx_path, [spec(info)], [spec(t) for t in graph.outputs], threads=threads)
    table = measure(graph, whole, inputs, threads=threads, progress=progress)
    save_cached(path, onnx_sha256, frames, table)
    return table
