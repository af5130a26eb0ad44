"""Real frames for a model's input, chosen by its shape: MNIST digits or photos.

A 28 x 28 uint8 input gets real MNIST digits; an H x H x 3 uint8 input gets crops of the
real photos; anything else gets seeded synthetic frames of its dtype (a model edgesplit
has no real data for still gets timed and profiled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.orchestrator.shapes import TensorInfo
from edgesplit.producers.sources import mnist, photos, synthetic


def model_frames(
    info: TensorInfo, count: int, *, cache: Path, seed: int = 1
) -> np.ndarray[Any, Any]:
    """`count` frames stacked on a batch axis, shaped and typed for the input `info`."""
    shape = tuple(info.shape)
    if info.dtype == "uint8" and shape == (28, 28):
        samples = list(mnist(count, cache=cache, seed=seed))
    elif info.dtype == "uint8" and len(shape) == 3 and shape[0] == shape[1] and shape[2] == 3:
        samples = list(photos(count, size=shape[0], seed=seed, cache=cache))
    else:
        samples = list(synthetic(shape, info.dtype, count, seed=seed))
    if not samples:
        return np.zeros((0, *shape), info.dtype)
    return np.stack([s.array for s in samples]).astype(info.dtype, copy=False)
