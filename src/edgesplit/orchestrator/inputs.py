"""Real frames for a model's input, chosen by its shape: MNIST digits or photos.

A 28 x 28 uint8 input gets real MNIST digits; an H x H x 3 uint8 input gets crops of the
real photos; anything else gets seeded synthetic frames of its dtype (a model edgesplit
has no real data for still gets timed and profiled).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.producers.sources import Sample, mnist, photos, synthetic

if TYPE_CHECKING:
    from edgesplit.orchestrator.shapes import TensorInfo


def model_samples(
    shape: Sequence[int], dtype: str, count: int, *, cache: Path, seed: int = 1
) -> list[Sample]:
    """`count` real frames (or synthetic ones) for an input of this shape and dtype."""
    shape = tuple(shape)
    if dtype == "uint8" and shape == (28, 28):
        return list(mnist(count, cache=cache, seed=seed))
    if dtype == "uint8" and len(shape) == 3 and shape[0] == shape[1] and shape[2] == 3:
        return list(photos(count, size=shape[0], seed=seed, cache=cache))
    return list(synthetic(shape, dtype, count, seed=seed))


def model_frames(
    info: TensorInfo, count: int, *, cache: Path, seed: int = 1
) -> np.ndarray[Any, Any]:
    """`count` frames stacked on a batch axis, shaped and typed for the input `info`."""
    shape = tuple(info.shape)
    samples = model_samples(shape, info.dtype, count, cache=cache, seed=seed)
    if not samples:
        return np.zeros((0, *shape), info.dtype)
    return np.stack([s.array for s in samples]).astype(info.dtype, copy=False)
