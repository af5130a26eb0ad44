"""Codec benchmark: encode/decode throughput per encoding and size, next to a numpy copy.

Every row is measured in the same run as the copy of the same bytes it is compared to,
so the ratio is what matters, not the absolute MB/s of this machine. The tensors are
ReLU-like float32 activations (about half zeros), which is what crosses a cut.

    python -m edgesplit.bench.codec          # or: edgesplit bench codec
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from edgesplit.schemas import (
    Activation,
    Tensor,
    TensorEncoding,
    decode_activation,
    encode_activation,
)

KiB = 1024
MiB = 1024 * KiB
SIZES = (64 * KiB, MiB, 16 * MiB)
ENCODINGS = ("raw", "fp16", "int8", "raw+lz4", "raw+zstd", "int8+zstd")
# Targets from the foundation issue: raw decode >= 0.5x a numpy copy, raw encode >= 0.25x.
TARGETS = {("raw", "decode"): 0.5, ("raw", "encode"): 0.25}


@dataclass(frozen=True)
class CodecRow:
    encoding: str
    size_bytes: int
    wire_bytes: int
    encode_mb_s: float
    decode_mb_s: float
    copy_mb_s: float
    max_abs_error: float

    @property
    def encode_ratio(self) -> float:
        return self.encode_mb_s / self.copy_mb_s

    @property
    def decode_ratio(self) -> float:
        return self.decode_mb_s / self.copy_mb_s

    def meets_targets(self) -> bool:
        enc = TARGETS.get((self.encoding, "encode"), 0.0)
        dec = TARGETS.get((self.encoding, "decode"), 0.0)
        return self.encode_ratio >= enc and self.decode_ratio >= dec


def _seconds_per_call(fn: Callable[[], Any], budget_s: float) -> float:
    """Median seconds per call over rounds that each run for about budget_s / 5."""
    fn()  # warm-up
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget_s / 5 / one))
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        rounds.append((time.perf_counter() - start) / loops)
    return statistics.median(rounds)


def activation_like(size_bytes: int, seed: int = 0) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(size_bytes // 4, dtype=np.float32)
    return np.maximum(values, 0.0, out=values)


def run(
    sizes: Sequence[int] = SIZES,
    encodings: Iterable[str] = ENCODINGS,
    budget_s: float = 0.5,
) -> list[CodecRow]:
    rows: list[CodecRow] = []
    encodings = list(encodings)
    for size in sizes:
        array = activation_like(size)
        copy_s = _seconds_per_call(array.copy, budget_s)
        for name in encodings:
            enc = TensorEncoding.parse(name)
            act = Activation("f", "s", 0, 0, 1, 0, (Tensor("x", array),))
            wire = encode_activation(act, enc)
            enc_s = _seconds_per_call(partial(encode_activation, act, enc), budget_s)
            dec_s = _seconds_per_call(partial(decode_activation, wire), budget_s)
            decoded = decode_activation(wire).tensors[0].array
            rows.append(
                CodecRow(
                    encoding=name,
                    size_bytes=size,
                    wire_bytes=len(wire),
                    encode_mb_s=size / enc_s / 1e6,
                    decode_mb_s=size / dec_s / 1e6,
                    copy_mb_s=size / copy_s / 1e6,
                    max_abs_error=float(np.max(np.abs(decoded - array))),
                )
            )
    return rows


def human_size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def main() -> None:  # pragma: no cover - thin entry point, the CLI shares render()
    from edgesplit.cli.bench import render_codec  # noqa: PLC0415 - keep rich out of imports

    render_codec(run())


if __name__ == "__main__":  # pragma: no cover
    main()
