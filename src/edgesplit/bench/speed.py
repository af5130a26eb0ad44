"""The host's speed during a run against its speed while the profiles were measured.

On a shared VM the host's speed wanders, and /proc/stat does not show it: on the project's
CI VM the same pure-Python loop took 8.8 to 14.6 ms of thread CPU time within 15 seconds on
an idle host, and a MobileNetV2 edge stage ran at 1.4x its profiled compute for twenty
minutes of a validation and at its profiled compute minutes later. One reading before a
run cannot stand for the run, so a `SpeedProbe` meters while the run goes on: a thread
beside it times a fixed piece of ONNX Runtime work (the whole model, on one thread, one
real frame, run often enough for about SAMPLE_MS) every so often, in thread CPU time (so a
busy host's queueing is not counted as slowness), and the reading is the median sample.
The run's slowdown is that over the median sample while the profiles were measured (>1:
the host was slower than when the cost model's figures were taken). Both tiers of the
emulated testbed run on the host, so one figure stands for both.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgesplit.stages.executor import session_options

SAMPLE_MS = 2.0  # of model runs per sample (a tiny model's single run is noise)
PERIOD_S = 0.25  # between samples while metering, at least...
MAX_DUTY = 0.02  # ...and long enough that the meter takes at most this share of a CPU
# A run on a host this much slower than when the profiles were measured cannot be
# expected to match them.
SLOW = 1.15


@dataclass
class Reading:
    """The samples taken while one piece of work went on (ms of thread CPU per run)."""

    samples: list[float] = field(default_factory=list)

    def ms(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


class SpeedProbe:
    """The whole model on one CPU thread, fed one real frame; `reference` holds the samples
    taken while the profiles were measured."""

    def __init__(self, onnx: Path, frame: np.ndarray[Any, Any]) -> None:
        self.session = ort.InferenceSession(
            str(onnx), sess_options=session_options(1), providers=["CPUExecutionProvider"]
        )
        self.feed = {self.session.get_inputs()[0].name: frame[np.newaxis]}
        self.reference = Reading()
        self._loops = 0

    def sample(self) -> float:
        """ms of thread CPU per run, over runs lasting about SAMPLE_MS (the number of runs
        is set by the first sample and kept, so that every sample does the same work)."""
        if not self._loops:
            self.session.run(None, self.feed)
            start = time.thread_time()
            self.session.run(None, self.feed)
            once_ms = max((time.thread_time() - start) * 1000, 1e-3)
            self._loops = max(1, math.ceil(SAMPLE_MS / once_ms))
        start = time.thread_time()
        for _ in range(self._loops):
            self.session.run(None, self.feed)
        return (time.thread_time() - start) * 1000 / self._loops

    @contextmanager
    def metering(self, into: Reading | None = None) -> Iterator[Reading]:
        """Samples `into` (a new Reading by default) while the body runs: one at once, then
        one every PERIOD_S or more."""
        reading = into if into is not None else Reading()
        stop = threading.Event()

        def meter() -> None:
            while True:
                began = time.perf_counter()
                reading.samples.append(self.sample())
                spent = time.perf_counter() - began
                if stop.wait(max(PERIOD_S, spent / MAX_DUTY)):
                    return

        thread = threading.Thread(target=meter, name="speed-meter", daemon=True)
        thread.start()
        try:
            yield reading
        finally:
            stop.set()
            thread.join()

    def slowdown(self, reading: Reading) -> float | None:
        """`reading`'s time over the reference's (None where either has no sample)."""
        now, then = reading.ms(), self.reference.ms()
        return now / then if now is not None and then else None
