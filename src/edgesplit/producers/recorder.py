"""Recording a topic: its `Frame` records, with Kafka timestamps and keys, into a file.

The recorder assigns itself every partition of the topic (no consumer group offsets are
read or committed) and reads from the beginning or from the end. It stops at `count`
frames, after `timeout_s`, after `idle_s` without a record, or when `stop` is set (Ctrl-C
in the CLI) and, reading from the beginning without `follow`, at the high watermarks the
partitions had when it started; what was read until then is kept. Partitions are merged
by Kafka timestamp as they are read, so the file is in time order across partitions and
in offset order within each (a key's frames keep their order). Records that are not
Frames are skipped, counted and logged.
"""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from edgesplit import __version__
from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, DecodeError, DeliveryError
from edgesplit.kafka.clients import consumer_config
from edgesplit.kafka.limits import MiB
from edgesplit.log import get_logger
from edgesplit.producers.recording import (
    RecordedFrame,
    RecordingMeta,
    RecordingWriter,
    check_codec,
    frame_datum,
)

log = get_logger("recorder")

_POLL_S = 0.2
_WARN_SKIPS = 10  # log the first few records that are not Frames one by one


@dataclass(frozen=True)
class RecordReport:
    topic: str
    path: Path
    frames: int
    skipped: int  # records that were not Frames
    bytes: int  # size of the file
    seconds: float
    stopped: str  # why it stopped: count, end, timeout, idle or interrupted (`stop` set)


class TimeOrder:
    """Merges partitions into one stream ordered by time, each partition in its own order.

    A record leaves once every partition still being read either has a record waiting or
    is known to be caught up (at its end, or finished): then the earliest waiting record
    cannot be overtaken by one not yet read.
    """

    def __init__(self, partitions: list[int]) -> None:
        self._queues: dict[int, deque[RecordedFrame]] = {p: deque() for p in partitions}
        self._caught_up: set[int] = set()
        self._finished: set[int] = set()

    def add(self, record: RecordedFrame) -> None:
        self._queues[record.partition].append(record)
        self._caught_up.discard(record.partition)

    def caught_up(self, partition: int) -> None:
        """The partition has nothing more to read for now (its end was reached)."""
        self._caught_up.add(partition)

    def finish(self, partition: int) -> None:
        """The partition will give no more records."""
        self._finished.add(partition)

    @property
    def done(self) -> bool:
        """Every partition finished and every record out."""
        return len(self._finished) == len(self._queues) and not any(self._queues.values())

    def ready(self) -> Iterator[RecordedFrame]:
        """The records that can leave now, in order."""
        while True:
            heads: list[tuple[int, int]] = []
            for p, q in self._queues.items():
                if q:
                    heads.append((q[0].time_us, p))
                elif p not in self._caught_up and p not in self._finished:
                    return  # this partition may still give an earlier record
            if not heads:
                return
            yield self._queues[min(heads)[1]].popleft()

    def drain(self) -> Iterator[RecordedFrame]:
        """Everything waiting, in order, whatever was not read yet."""
        heap = [(q[0].time_us, p) for p, q in self._queues.items() if q]
        heapq.heapify(heap)
        while heap:
            _, p = heapq.heappop(heap)
            q = self._queues[p]
            yield q.popleft()
            if q:
                heapq.heappush(heap, (q[0].time_us, p))


@dataclass(frozen=True)
class _Span:
    """Where reading starts in each partition, and (bounded) the offset it stops before."""

    start: dict[int, int]
    stop: dict[int, int] | None

    @property
    def total(self) -> int | None:
        if self.stop is None:
            return None
        return sum(max(0, self.stop[p] - self.start[p]) for p in self.stop)


def _span(consumer: Consumer, topic: str, from_beginning: bool, follow: bool) -> _Span:
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        raise ConfigError(f"topic {topic!r} does not exist (or cannot be read): nothing to record")
    start: dict[int, int] = {}
    stop: dict[int, int] = {}
    for p in sorted(meta.partitions):
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        except KafkaException as exc:
            raise DeliveryError(f"cannot read the offsets of {topic}[{p}]: {exc.args[0]}") from exc
        start[p] = low if from_beginning else high
        stop[p] = high
    return _Span(start, stop if from_beginning and not follow else None)


def _time_ms(msg: Message) -> int | None:
    kind, ms = msg.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE else ms


def record(
    settings: KafkaSettings,
    topic: str,
    path: Path,
    *,
    count: int | None = None,
    from_beginning: bool = True,
    follow: bool = False,
    timeout_s: float | None = None,
    idle_s: float | None = None,
    codec: str = "deflate",
    max_message_bytes: int = 64 * MiB,
    on_progress: Callable[[int, int | None], None] | None = None,
    stop: threading.Event | None = None,
) -> RecordReport:
    """Record the topic's Frames into `path`; `on_progress(frames, expected or None)`.

    `from_beginning=False` records what arrives from now on (and so always follows).
    """
    if count is not None and count < 1:
        raise ConfigError(f"count must be at least 1, got {count}")
    check_codec(codec)
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"edgesplit-record-{uuid.uuid4().hex[:8]}",
            max_message_bytes=max_message_bytes,
        )
        | {"enable.auto.commit": False, "enable.partition.eof": True}
    )
    started = time.monotonic()
    try:
        span = _span(consumer, topic, from_beginning, follow)
        meta = RecordingMeta(
            topic,
            len(span.start),
            settings.bootstrap_servers,
            datetime.now(UTC).isoformat(timespec="seconds"),
            __version__,
        )
        expected = count if span.total is None else min(count or span.total, span.total)
        with RecordingWriter(path, meta, codec) as writer:
            loop = _Loop(consumer, topic, span, writer, count)
            loop.progress = (lambda n: on_progress(n, expected)) if on_progress else None
            stopped = loop.run(timeout_s, idle_s, stop)
    finally:
        consumer.close()
    seconds = time.monotonic() - started
    log.info(
        "topic_recorded",
        topic=topic,
        path=str(path),
        frames=writer.frames,
        skipped=loop.skipped,
        stopped=stopped,
    )
    return RecordReport(
        topic, path, writer.frames, loop.skipped, path.stat().st_size, seconds, stopped
    )


class _Loop:
    """The read loop of one recording."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        span: _Span,
        writer: RecordingWriter,
        count: int | None,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.span = span
        self.writer = writer
        self.count = count
        self.order = TimeOrder(list(span.start))
        self.skipped = 0
        self.progress: Callable[[int], None] | None = None
        consumer.assign([TopicPartition(topic, p, o) for p, o in span.start.items()])
        if span.stop is not None:
            for p, end in span.stop.items():
                if span.start[p] >= end:
                    self.order.finish(p)

    def run(
        self, timeout_s: float | None, idle_s: float | None, stop: threading.Event | None
    ) -> str:
        """Read until a stop condition; returns which one."""
        began = last = time.monotonic()
        while not (self.span.stop is not None and self.order.done):
            now = time.monotonic()
            if stop is not None and stop.is_set():
                return self._drain("interrupted")
            if timeout_s is not None and now - began >= timeout_s:
                return self._drain("timeout")
            if idle_s is not None and now - last >= idle_s:
                return self._drain("idle")
            msg = self.consumer.poll(_POLL_S)
            if msg is None:
                continue
            if msg.error() is None:
                last = time.monotonic()
            self._take(msg)
            if self._write(self.order.ready()):
                return "count"
        return "end"

    def _take(self, msg: Message) -> None:
        p, offset = msg.partition() or 0, msg.offset() or 0
        stop = self.span.stop[p] if self.span.stop is not None else None
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                raise DeliveryError(f"reading {self.topic!r}: {err}")
            self.order.caught_up(p)
            if stop is not None and offset >= stop:
                self.order.finish(p)
            return
        if stop is not None and offset >= stop:
            self.order.finish(p)  # produced after the recording began: not part of it
            return
        try:
            datum = frame_datum(msg.value() or b"")
        except DecodeError as exc:
            self.skipped += 1
            if self.skipped <= _WARN_SKIPS:
                log.warning(
                    "record_skipped", topic=self.topic, partition=p, offset=offset, reason=str(exc)
                )
        else:
            self.order.add(RecordedFrame(_time_ms(msg), msg.key(), p, offset, datum))
        if stop is not None and offset + 1 >= stop:
            self.order.finish(p)

    def _write(self, records: Iterator[RecordedFrame]) -> bool:
        """Write records; True once `count` frames are written."""
        for r in records:
            self.writer.write(r)
            if self.progress is not None:
                self.progress(self.writer.frames)
            if self.count is not None and self.writer.frames >= self.count:
                return True
        return False

    def _drain(self, reason: str) -> str:
        self._write(self.order.drain())
        return reason
