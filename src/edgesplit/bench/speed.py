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

The host does not slow every node alike: what wanders most is its memory's speed. AlexNet's
classifier (fully connected layers streaming 16-150 MB of weights a batch) ran 15-26% over
its profile for a whole validation while the whole model ran 5-13% over; with the other
core copying 64 MB back and forth, its fully connected nodes took x1.4 their time and its
convolutions x1.05. So each sample also runs the model once under ONNX Runtime's own
profiler, and a segment's slowdown (`slowdown`'s `nodes`) is that of its own nodes' times.
"""

from __future__ import annotations

import itertools
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from edgesplit.orchestrator.flops import GraphCosts
from edgesplit.orchestrator.profiler import kernel_times
from edgesplit.stages.executor import session_options

SAMPLE_MS = 2.0  # of model runs per sample (a tiny model's single run is noise)
PERIOD_S = 0.25  # between samples while metering, at least...
MAX_DUTY = 0.02  # ...and long enough that the meter takes at most this share of a CPU
# A run on a host this much slower than when the profiles were measured cannot be
# expected to match them.
SLOW = 1.15
ROLL = 64  # samples per ONNX Runtime profile (a profiler holds its events until its end)


@dataclass
class Reading:
    """The samples taken while one piece of work went on (ms of thread CPU per run), and
    each node's kernel time in them (by node index, as cuts count nodes)."""

    samples: list[float] = field(default_factory=list)
    nodes: dict[int, list[float]] = field(default_factory=dict)

    def ms(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def node_ms(self, nodes: Iterable[int]) -> float | None:
        """The sum of the median kernel times of the `nodes` it timed (None: none)."""
        times = [statistics.median(self.nodes[i]) for i in nodes if self.nodes.get(i)]
        return sum(times) if times else None


class SpeedProbe:
    """The whole model on one CPU thread, fed one real frame; `reference` holds the samples
    taken while the profiles were measured."""

    def __init__(self, onnx_path: Path, frame: np.ndarray[Any, Any]) -> None:
        self.session = ort.InferenceSession(
            str(onnx_path), sess_options=session_options(1), providers=["CPUExecutionProvider"]
        )
        self.feed = {self.session.get_inputs()[0].name: frame[np.newaxis]}
        self.reference = Reading()
        self._loops = 0
        self._onnx = onnx_path
        self._costs = GraphCosts.of(onnx.load(str(onnx_path)))

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
            with tempfile.TemporaryDirectory(prefix="edgesplit-speed-") as folder:
                profiled = self._profiled(Path(folder) / "0")
                for n in itertools.count(1):
                    began = time.perf_counter()
                    reading.samples.append(self.sample())
                    profiled.run(None, self.feed)
                    spent = time.perf_counter() - began
                    if n % ROLL == 0:  # a new session (not counted: once in ROLL samples)
                        self._keep_nodes(profiled, reading)
                        profiled = self._profiled(Path(folder) / str(n))
                    if stop.wait(max(PERIOD_S, spent / MAX_DUTY)):
                        self._keep_nodes(profiled, reading)
                        return

        thread = threading.Thread(target=meter, name="speed-meter", daemon=True)
        thread.start()
        try:
            yield reading
        finally:
            stop.set()
            thread.join()

    def slowdown(self, reading: Reading, nodes: range | None = None) -> float | None:
        """`reading`'s time over the reference's, of the whole model or, with `nodes`, of
        those nodes' kernels (None where either has no sample)."""
        if nodes is None:
            now, then = reading.ms(), self.reference.ms()
        else:
            both = [i for i in reading.nodes if i in nodes and self.reference.nodes.get(i)]
            now, then = reading.node_ms(both), self.reference.node_ms(both)
        return now / then if now is not None and then else None

    def _profiled(self, prefix: Path) -> ort.InferenceSession:
        opts = session_options(1)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(prefix)
        return ort.InferenceSession(str(self._onnx), opts, providers=["CPUExecutionProvider"])

    def _keep_nodes(self, session: ort.InferenceSession, into: Reading) -> None:
        """`session`'s kernel times, ended, into `into`'s nodes."""
        for name, times in kernel_times(Path(session.end_profiling()))[0].items():
            at = self._costs.runtime_index(name)
            if at is not None:
                into.nodes.setdefault(at, []).extend(times)
