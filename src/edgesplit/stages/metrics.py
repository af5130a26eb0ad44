"""Stage metrics: what a stage did in each window, published to the metrics topic.

Every few seconds (and once more when it stops) a stage produces one `StageMetrics`
record with the deltas of its counters over the window, its process's CPU time and
memory, and a sample of its batches. `edgesplit metrics` reads them back.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from edgesplit.log import get_logger
from edgesplit.schemas.avro import read_datum, write_datum
from edgesplit.schemas.records import now_us
from edgesplit.stages.stats import BatchSample, StageStats

log = get_logger("stage.metrics")
_PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_SAMPLES = 2000  # batches kept per window; beyond that the window is summarised only


@dataclass(frozen=True)
class StageMetrics:
    pipeline: str
    plan_version: int
    stage: int
    tier: str
    instance: str
    window_start_us: int
    window_end_us: int
    frames_in: int
    frames_out: int
    dead_letters: int
    batches: int
    batch_frames: int
    bytes_in: int
    bytes_out: int
    compute_s: float
    decode_s: float
    encode_s: float
    wait_s: float
    produce_blocked_s: float
    cpu_s: float
    rss_bytes: int
    batch_samples: tuple[BatchSample, ...] = ()

    @property
    def seconds(self) -> float:
        return max((self.window_end_us - self.window_start_us) / 1e6, 1e-9)


def encode_metrics(m: StageMetrics) -> bytes:
    datum = asdict(m)
    datum["batch_samples"] = [asdict(s) for s in m.batch_samples]
    return write_datum("StageMetrics", datum)


def decode_metrics(data: bytes) -> StageMetrics:
    d = read_datum("StageMetrics", data)
    d["batch_samples"] = tuple(BatchSample(**s) for s in d["batch_samples"])
    return StageMetrics(**d)


# The counters a window reports as deltas of the stage's running StageStats.
_COUNTERS = (
    "frames_in",
    "frames_out",
    "dead_letters",
    "batches",
    "batch_frames",
    "bytes_in",
    "bytes_out",
    "compute_s",
    "decode_s",
    "encode_s",
    "wait_s",
    "produce_blocked_s",
)


def rss_bytes() -> int:
    try:
        return int(open("/proc/self/statm").read().split()[1]) * _PAGE  # noqa: PTH123
    except (OSError, IndexError, ValueError):
        return 0


class MetricsPublisher:
    """Turns a stage's running counters into one StageMetrics record per window."""

    def __init__(
        self,
        producer: Producer,
        topic: str,
        *,
        pipeline: str,
        plan_version: int,
        stage: int,
        tier: str,
        every_s: float = 2.0,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.every_s = every_s
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._ids: dict[str, Any] = {
            "pipeline": pipeline,
            "plan_version": plan_version,
            "stage": stage,
            "tier": tier,
            "instance": self.instance,
        }
        self._last: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
        self._last_cpu = time.process_time()
        self._start_us = now_us()
        self._due = time.monotonic() + every_s
        self.published = 0

    def maybe_publish(self, stats: StageStats) -> None:
        if time.monotonic() >= self._due:
            self.publish(stats)

    def publish(self, stats: StageStats) -> StageMetrics:
        end = now_us()
        cpu = time.process_time()
        current: dict[str, Any] = {name: getattr(stats, name) for name in _COUNTERS}
        deltas = {name: current[name] - self._last[name] for name in _COUNTERS}
        samples = tuple(stats.drain_batches()[-MAX_SAMPLES:])
        metrics = StageMetrics(
            **self._ids,
            window_start_us=self._start_us,
            window_end_us=end,
            cpu_s=cpu - self._last_cpu,
            rss_bytes=rss_bytes(),
            batch_samples=samples,
            **deltas,
        )
        self._last, self._last_cpu, self._start_us = current, cpu, end
        self._due = time.monotonic() + self.every_s
        self._send(encode_metrics(metrics))
        self.published += 1
        return metrics

    def _send(self, value: bytes) -> None:
        def on_delivery(err: KafkaError | None, _: Message) -> None:
            if err is not None:  # metrics are best effort: never stall the data path
                log.warning("metrics_not_delivered", error=str(err))

        try:
            self.producer.produce(
                self.topic, value=value, key=self.instance.encode(), on_delivery=on_delivery
            )
        except BufferError:
            log.warning("metrics_dropped", reason="producer queue full")
