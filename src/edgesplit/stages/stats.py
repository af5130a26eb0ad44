"""A stage's running counters: what its summary events (and, later, metrics) report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchSample:
    """One batch: when it finished, its size, how long it waited to fill, its compute
    (wall time, and the CPU time ONNX Runtime used: what a CPU quota or a busy host does
    not change)."""

    end_us: int
    size: int
    wait_ms: float
    compute_ms: float
    compute_cpu_ms: float = 0.0


@dataclass
class StageStats:
    stage: int
    started: float = field(default_factory=time.monotonic)
    frames_in: int = 0
    frames_out: int = 0
    dead_letters: int = 0
    batches: int = 0
    batch_frames: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    compute_s: float = 0.0
    decode_s: float = 0.0
    encode_s: float = 0.0
    wait_s: float = 0.0
    produce_blocked_s: float = 0.0
    _batches: list[BatchSample] = field(default_factory=list, repr=False)

    def record_batch(self, sample: BatchSample) -> None:
        self._batches.append(sample)
        if len(self._batches) > 10_000:  # nobody drains: keep the newest
            del self._batches[:5_000]

    def drain_batches(self) -> list[BatchSample]:
        out, self._batches = self._batches, []
        return out

    def summary(self) -> dict[str, float | int]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dead_letters": self.dead_letters,
            "batches": self.batches,
            "mean_batch": round(self.batch_frames / self.batches, 2) if self.batches else 0.0,
            "fps": round(self.frames_out / elapsed, 2),
            "compute_ms_per_frame": round(1000 * self.compute_s / self.batch_frames, 3)
            if self.batch_frames
            else 0.0,
            "utilization": round(self.compute_s / elapsed, 3),
            "mb_in": round(self.bytes_in / 1e6, 3),
            "mb_out": round(self.bytes_out / 1e6, 3),
        }
