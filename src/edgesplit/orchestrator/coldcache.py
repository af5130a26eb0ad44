"""Runs timed the way a stage makes them: with the core's own caches cold.

Between two batches a stage consumes, decodes, encodes and produces, and on a busy tier
other processes run on its core: by the time its next batch starts, the core's private
caches (L1, L2) hold their data, not the stage's. A profiler that times the same run back
to back times it warm, and misses that refill, which is most of the cost of a small stage
(an MNIST layer's 0.03 ms runs in 0.15 ms in a pipeline). `Evictor` writes over a buffer the
size of those caches before each timed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FALLBACK_BYTES = 4 * 1024 * 1024  # where sysfs does not say
_SIZE_UNITS = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}


def private_cache_bytes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """The largest of the core's level-1 and level-2 caches, from sysfs (the last level is
    shared between cores and far larger: a stage's weights stay there)."""
    sizes = []
    for index in root.glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if level <= 2 and text:
            unit = _SIZE_UNITS.get(text[-1].upper(), 1)
            digits = text[:-1] if unit > 1 else text
            if digits.isdigit():
                sizes.append(int(digits) * unit)
    return max(sizes, default=FALLBACK_BYTES)


class Evictor:
    """Replaces the core's private caches' content by writing over a buffer of their size."""

    def __init__(self, nbytes: int | None = None) -> None:
        size = nbytes if nbytes is not None else private_cache_bytes()
        self._buffer: np.ndarray[Any, Any] = np.zeros(max(size // 8, 1), np.float64)

    def __call__(self) -> None:
        np.add(self._buffer, 1.0, out=self._buffer)
