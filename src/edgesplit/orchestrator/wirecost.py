"""What activations cost on the wire: record bytes per encoding, and the codec's CPU time.

Both are measured with the real codec (Activation records, as a stage writes them), on
this tier: the bytes on one frame of a cut's real activation, the CPU time on a ~1 MiB
ReLU-like float32 activation (per byte) and on a tiny record (per record).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from edgesplit.orchestrator.profile import CodecCost
from edgesplit.schemas import Activation, Tensor, TensorEncoding
from edgesplit.schemas.codec import decode_activation, encode_activation

WIRE_ENCODINGS = ("raw", "fp16", "int8", "raw+lz4", "fp16+lz4", "int8+zstd")
CODEC_ENCODINGS = ("raw", "fp16", "int8")
_BIG = 1024 * 1024  # bytes of float32 activation the per-byte costs use
_TINY = 64  # bytes of the per-record probe


def _record(name: str, frame: np.ndarray[Any, Any]) -> Activation:
    """A record shaped like a stage's: ids, stamps, one frame's tensor."""
    now = time.time_ns() // 1000
    return Activation("camera-0:0000000001", "camera-0", 1, now, 1, 0, (Tensor(name, frame),))


def wire_bytes(
    name: str, frame: np.ndarray[Any, Any], encodings: Sequence[str] = WIRE_ENCODINGS
) -> dict[str, float]:
    """encoding -> bytes of one frame's Activation record carrying `frame` as `name`."""
    act = _record(name, frame)
    return {e: float(len(encode_activation(act, TensorEncoding.parse(e)))) for e in encodings}


def _median_s(fn: Callable[[], object], reps: int) -> float:
    """Median CPU seconds of `fn` (a CPU quota makes wall time bimodal, not CPU time)."""
    fn()
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def relu_like(nbytes: int, seed: int = 0) -> np.ndarray[Any, Any]:
    values = np.random.default_rng(seed).standard_normal(nbytes // 4, dtype=np.float32)
    return np.maximum(values, 0.0, out=values)


def codec_costs(encodings: Sequence[str] = CODEC_ENCODINGS, reps: int = 7) -> dict[str, CodecCost]:
    """encoding -> encode/decode ns per byte (1 MiB activation) and µs per tiny record."""
    big, tiny = _record("x", relu_like(_BIG)), _record("x", relu_like(_TINY))
    out: dict[str, CodecCost] = {}
    for name in encodings:
        enc = TensorEncoding.parse(name)
        per_record = [
            _median_s(partial(encode_activation, tiny, enc), reps * 5),
            _median_s(partial(decode_activation, encode_activation(tiny, enc)), reps * 5),
        ]
        encode_s = _median_s(partial(encode_activation, big, enc), reps)
        decode_s = _median_s(partial(decode_activation, encode_activation(big, enc)), reps)
        out[name] = CodecCost(
            encode_ns_per_byte=max(encode_s - per_record[0], 0.0) * 1e9 / _BIG,
            decode_ns_per_byte=max(decode_s - per_record[1], 0.0) * 1e9 / _BIG,
            per_record_us=statistics.fmean(per_record) * 1e6,
        )
    return out
