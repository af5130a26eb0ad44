"""The host's speed now against a reference moment: a fixed piece of ONNX Runtime work, timed.

On a shared VM the host's speed wanders, and /proc/stat does not show all of it: on the
project's CI VM a MobileNetV2 edge stage ran at 1.4x its profiled compute for twenty
minutes of a validation and at its profiled compute again minutes later, while the steal
column said 6-10% (other guests' cache and memory traffic shows nowhere). A validation
times the model's whole graph on one thread of the host before each run, for about
`BUDGET_S` (median of the runs), and reports the run's slowdown: that time over the time
when the profiles were measured (>1: the host was slower than when the cost model's
figures were taken). Both tiers of the emulated testbed run on the host, so one figure
stands for both.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgesplit.stages.executor import session_options

BUDGET_S = 0.2  # of timed runs per reading, after one untimed
MIN_RUNS = 3
# A run on a host this much slower than when the profiles were measured cannot be
# expected to match them.
SLOW = 1.15


class SpeedProbe:
    """The whole model on one CPU thread, fed one real frame."""

    def __init__(self, onnx: Path, frame: np.ndarray[Any, Any]) -> None:
        self.session = ort.InferenceSession(
            str(onnx), sess_options=session_options(1), providers=["CPUExecutionProvider"]
        )
        self.feed = {self.session.get_inputs()[0].name: frame[np.newaxis]}
        self.marks: list[float] = []

    def ms(self) -> float:
        """ms per run now: the median of the runs in about BUDGET_S."""
        self.session.run(None, self.feed)
        times: list[float] = []
        end = time.perf_counter() + BUDGET_S
        while len(times) < MIN_RUNS or time.perf_counter() < end:
            start = time.perf_counter()
            self.session.run(None, self.feed)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    def mark(self) -> None:
        """A reading for the reference (around the profiles' measurement: before and
        after it, say); the reference is the mean of the marks."""
        self.marks.append(self.ms())

    def slowdown(self) -> float | None:
        """The time now over the reference's (None before any `mark`)."""
        return self.ms() / statistics.fmean(self.marks) if self.marks else None
