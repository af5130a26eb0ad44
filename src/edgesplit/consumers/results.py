"""The result sink: read `Result` records and summarise what the pipeline answered.

End-to-end latency runs from each frame's capture time to the moment the last stage
produced its result (the result record's timestamp), and throughput from the results'
timestamps too: neither depends on when this reader started or how far behind it is.
(The producer and the last stage share a clock on one machine; across machines,
synchronise clocks.) Accuracy is counted where frames carried labels. A frame answered twice (at
least once delivery, after a stage restart) is counted once and reported as a duplicate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    TopicPartition,
)

from edgesplit.config import KafkaSettings
from edgesplit.errors import DecodeError, DeliveryError
from edgesplit.kafka.clients import consumer_config
from edgesplit.log import get_logger
from edgesplit.schemas.codec import decode_result
from edgesplit.schemas.records import Result, now_us

log = get_logger("results")


@dataclass(frozen=True)
class Answer:
    """One frame's answer as the sink saw it."""

    frame_id: str
    sensor_id: str
    plan_version: int
    label: int | None
    top1: int | None
    score: float | None
    capture_us: int
    produced_us: int  # when the last stage produced the result (the record's timestamp)
    latency_ms: float  # capture -> produced


@dataclass(frozen=True)
class ResultsReport:
    frames: int
    duplicates: int
    undecodable: int
    seconds: float
    throughput_fps: float
    latency_ms: dict[str, float]  # p50, p95, p99, mean, max
    labelled: int
    correct: int
    per_version: dict[int, int]
    recent: tuple[Answer, ...]

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


@dataclass
class ResultsSummary:
    """Accumulates answers; `report()` gives a snapshot at any time."""

    keep_recent: int = 10
    answers: dict[str, Answer] = field(default_factory=dict)
    duplicates: int = 0
    undecodable: int = 0
    _recent: deque[Answer] = field(default_factory=deque)

    def add(
        self, result: Result, received_us: int, produced_us: int | None = None
    ) -> Answer | None:
        """Record a result; returns its Answer, or None if the frame was answered before."""
        if result.frame_id in self.answers:
            self.duplicates += 1
            return None
        top = result.topk[0] if result.topk else None
        produced = produced_us if produced_us is not None else received_us
        answer = Answer(
            result.frame_id,
            result.sensor_id,
            result.plan_version,
            result.label,
            top.class_index if top else None,
            top.score if top else None,
            result.capture_us,
            produced,
            (produced - result.capture_us) / 1000,
        )
        self.answers[result.frame_id] = answer
        self._recent.append(answer)
        while len(self._recent) > self.keep_recent:
            self._recent.popleft()
        return answer

    def report(self) -> ResultsReport:
        answers = list(self.answers.values())
        lat = np.array([a.latency_ms for a in answers]) if answers else np.zeros(0)
        # Throughput from when results were produced, not read: a reader that starts late or
        # falls behind does not change how fast the pipeline answered.
        produced = [a.produced_us for a in answers]
        seconds = (max(produced) - min(produced)) / 1e6 if produced else 0.0
        labelled = [a for a in answers if a.label is not None]
        return ResultsReport(
            frames=len(answers),
            duplicates=self.duplicates,
            undecodable=self.undecodable,
            seconds=seconds,
            throughput_fps=(len(answers) - 1) / seconds if seconds > 0 else 0.0,
            latency_ms={
                "p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
                "p95": float(np.percentile(lat, 95)) if lat.size else 0.0,
                "p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
                "mean": float(lat.mean()) if lat.size else 0.0,
                "max": float(lat.max()) if lat.size else 0.0,
            },
            labelled=len(labelled),
            correct=sum(a.top1 == a.label for a in labelled),
            per_version=dict(Counter(a.plan_version for a in answers)),
            recent=tuple(self._recent),
        )


def _attach(consumer: Consumer, topics: list[str], from_beginning: bool) -> None:
    """Plain topic names: assign every partition (no group to join, so no wait); regular
    expressions: subscribe, so topics created later are picked up too."""
    if any(t.startswith("^") for t in topics):
        consumer.subscribe(topics)
        return
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    assignment = []
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            raise DeliveryError(f"no topic {topic!r}: is the plan deployed?")
        assignment += [TopicPartition(topic, p, start) for p in meta.partitions]
    consumer.assign(assignment)


def read_results(
    settings: KafkaSettings,
    topics: Sequence[str],
    *,
    count: int | None = None,
    idle_timeout_s: float | None = None,
    timeout_s: float | None = None,
    from_beginning: bool = True,
    stop: threading.Event | None = None,
    on_answer: Callable[[ResultsSummary, Answer | None], None] | None = None,
    summary: ResultsSummary | None = None,
    accept: Callable[[Result], bool] | None = None,
) -> ResultsReport:
    """Read results until `count` distinct frames, `stop`, a quiet spell or a deadline.

    Topics starting with `^` are regular expressions (e.g. every plan version's results).
    `accept` keeps only some results (e.g. the frames of one run).
    The reader uses a fresh consumer group and commits nothing: it never disturbs others.
    """
    summary = summary if summary is not None else ResultsSummary()
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"edgesplit-results-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest" if from_beginning else "latest",
            max_message_bytes=64 * 1024 * 1024,
        )
        | {"enable.auto.commit": False}
    )
    _attach(consumer, list(topics), from_beginning)
    started = time.monotonic()
    last_seen = started
    try:
        while True:
            now = time.monotonic()
            if stop is not None and stop.is_set():
                break
            if count is not None and len(summary.answers) >= count:
                break
            if timeout_s is not None and now - started > timeout_s:
                break
            if idle_timeout_s is not None and now - last_seen > idle_timeout_s:
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise DeliveryError(f"reading results: {err}")
            last_seen = time.monotonic()
            try:
                result = decode_result(msg.value() or b"")
            except DecodeError as exc:
                summary.undecodable += 1
                log.warning("result_undecodable", reason=str(exc), offset=msg.offset())
                continue
            if accept is not None and not accept(result):
                continue
            kind, ts_ms = msg.timestamp()
            produced = ts_ms * 1000 if kind != TIMESTAMP_NOT_AVAILABLE else None
            answer = summary.add(result, now_us(), produced)
            if on_answer is not None:
                on_answer(summary, answer)
    finally:
        consumer.close()
    return summary.report()
