"""The paced frame producer: sensor samples -> `Frame` records on the frames topic.

Frames are keyed by sensor id, so one sensor's frames stay ordered (one partition); the
capture time is stamped as each frame is produced. Pacing is for the whole stream
(`rate_hz` frames per second across all sensors) or as fast as the broker takes them.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.clients import producer_config
from edgesplit.kafka.limits import DEFAULT_LIMIT
from edgesplit.log import get_logger
from edgesplit.producers.sources import Sample
from edgesplit.schemas import Frame, Tensor, TensorEncoding, TraceStamp, encode_frame, now_us
from edgesplit.schemas.encoding import RAW

log = get_logger("producer")


@dataclass(frozen=True)
class StreamReport:
    topic: str
    run_id: str
    frames: int
    labelled: int
    bytes: int
    seconds: float
    topics: tuple[str, ...] = ()  # with `follow`: every topic frames went to, in order

    @property
    def rate_hz(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def frame_id(run_id: str, sensor: str, seq: int) -> str:
    return f"{run_id}:{sensor}:{seq}"


class Acks:
    """Delivery reports of one producer: what Kafka acknowledged, and what it refused."""

    def __init__(self) -> None:
        self.acked = 0
        self.failures: list[str] = []

    def __call__(self, err: KafkaError | None, _: Message) -> None:
        if err is not None:
            self.failures.append(str(err))
        else:
            self.acked += 1


def frames(samples: Iterable[Sample], sensors: int, run: str) -> Iterator[Frame]:
    """Samples as Frames, round-robin over `sensors`, capture time stamped as each is drawn."""
    seqs = [0] * sensors
    for i, sample in enumerate(samples):
        k = i % sensors
        sensor = f"sensor-{k}"
        seq = seqs[k]
        seqs[k] += 1
        captured = now_us()
        yield Frame(
            frame_id(run, sensor, seq),
            sensor,
            seq,
            captured,
            Tensor("frame", sample.array),
            sample.label,
            (TraceStamp("producer", captured, now_us()),),
        )


class _Route:
    """Where frames go: one topic, or the topic `follow` names before each frame."""

    def __init__(self, topic: str, follow: Callable[[], str] | None) -> None:
        self.topic = topic
        self.follow = follow
        self.used: list[str] = []  # the topics `follow` chose, in order

    def next(self) -> str:
        if self.follow is not None:
            chosen = self.follow()
            if chosen != self.topic or not self.used:
                log.info("frames_topic_followed", topic=chosen)
                self.topic = chosen
                self.used.append(chosen)
        return self.topic


def stream(
    settings: KafkaSettings,
    topic: str,
    samples: Iterable[Sample],
    *,
    rate_hz: float | None = None,
    sensors: int = 1,
    max_message_bytes: int = DEFAULT_LIMIT,
    run_id: str | None = None,
    on_sent: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    encoding: TensorEncoding = RAW,
    warmup: int = 0,
    follow: Callable[[], str] | None = None,
) -> StreamReport:
    """Produce one Frame per sample, keyed by its sensor; wait for every acknowledgement.

    `follow`, when given, is asked before each frame for the topic to send it to (the
    newest plan version's frames topic, say): a stream switches topics between frames,
    never within one, and `topic` is only the name reported until the first answer.

    `warmup` frames (the first samples, under run id RUN-warmup) go first and are
    acknowledged before the stream starts: an idempotent producer spends ~0.5 s getting
    its producer id, which would otherwise show up as the latency of the first frames.
    """
    if sensors < 1:
        raise ValueError("sensors must be at least 1")
    run = run_id or uuid.uuid4().hex[:8]
    producer = Producer(producer_config(settings, max_message_bytes=max_message_bytes))
    acks = Acks()
    items = iter(samples)
    route = _Route(topic, follow)
    if warmup > 0:
        for warm in frames(itertools.islice(items, warmup), 1, f"{run}-warmup"):
            value = encode_frame(warm, encoding)
            produce(producer, route.next(), value, warm.sensor_id.encode(), acks)
        producer.flush(60)
        acks.acked = 0
    sent = labelled = nbytes = 0
    start = time.monotonic()
    pending = frames(items, sensors, run)
    while not ((stop is not None and stop.is_set()) or acks.failures):
        if rate_hz:  # pace against the schedule, so a slow call does not drift the rate
            delay = start + sent / rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        # Drawn after the wait: drawing a frame stamps its capture time.
        drawn = next(pending, None)
        if drawn is None:
            break
        frame = drawn
        sent += 1
        value = encode_frame(frame, encoding)
        produce(producer, route.next(), value, frame.sensor_id.encode(), acks)
        labelled += frame.label is not None
        nbytes += len(value)
        if on_sent is not None:
            on_sent(sent)
    remaining = producer.flush(60)
    seconds = time.monotonic() - start
    topic = route.topic
    if acks.failures:
        raise DeliveryError(f"frames to {topic!r} were refused: {acks.failures[0]}")
    if remaining:
        raise DeliveryError(f"{remaining} frames to {topic!r} unacknowledged after 60 s")
    log.info(
        "frames_streamed", topic=topic, run_id=run, frames=acks.acked, seconds=round(seconds, 2)
    )
    return StreamReport(topic, run, acks.acked, labelled, nbytes, seconds, tuple(route.used))


def produce(producer: Producer, topic: str, value: bytes, key: bytes | None, acks: Acks) -> None:
    """Produce one record, waiting while the local queue is full; DeliveryError if refused."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=acks)
            producer.poll(0)
            return
        except BufferError:  # the local queue is full: wait for acknowledgements
            producer.poll(0.05)
        except KafkaException as exc:
            raise DeliveryError(f"cannot produce frames to {topic!r}: {exc.args[0]}") from exc
