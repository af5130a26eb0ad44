"""Replaying a recording: its frames back into a topic, in order, paced as they were recorded.

Frame i is due at start + (t_i - t_0) / speed, where t is the recorded Kafka timestamp:
an absolute schedule, so a slow send never drifts the ones after it (a late frame goes at
once, and the next is due on time again). Speed `None` sends as fast as the broker takes
them. Each frame keeps its key, sensor id, seq, label and tensor as recorded (the tensor
bytes are not touched); it gets a new capture time, stamped as it is sent, because from
the pipeline's point of view it is captured now, and a fresh trace with one `replay` hop.

Frame ids are kept by default, so results of two replays of one recording (say, under
two plans) can be joined frame by frame. `new_ids` gives the frames `run:sensor:seq` ids
of a new run, as `edgesplit stream` does: needed to replay into a pipeline whose results
already hold the recorded ids, since results are counted once per frame id.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, DeliveryError
from edgesplit.kafka.admin import TopicSpec, admin_client, create_topics
from edgesplit.kafka.clients import producer_config
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger
from edgesplit.producers.recording import (
    RecordedFrame,
    RecordingInfo,
    frame_message,
    read_recording,
)
from edgesplit.producers.stream import Acks, frame_id, produce
from edgesplit.schemas import now_us

log = get_logger("replay")

HOP = "replay"
# Room for what a replay changes in a frame: its capture time, ids and trace.
_ROOM = 1024


@dataclass(frozen=True)
class ReplayReport:
    topic: str
    run_id: str | None  # the run of the new frame ids; None when the recorded ids were kept
    frames: int
    bytes: int
    seconds: float
    recorded_s: float  # span of the recorded timestamps of the frames sent
    max_late_ms: float  # the latest a frame went out after its due time (0 at max speed)
    stopped: bool  # stopped early (`stop` was set)

    @property
    def rate_hz(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def parse_speed(text: str) -> float | None:
    """`1`, `2.5`, ... (times real time) or `max` (None: as fast as the broker takes them)."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise ConfigError(f"speed must be a number above 0 or 'max', not {text!r}")
    return speed


def due_offsets(times_us: Iterable[int], speed: float | None) -> Iterator[float]:
    """Seconds after the start at which each frame is due: (t_i - t_0) / speed.

    Times that step back (records from several partitions, or clocks of several producers)
    do not move a frame before the one ahead of it: it is due with that one.
    """
    first: int | None = None
    latest = 0
    for t in times_us:
        if first is None:
            first = latest = t
        latest = max(latest, t)
        yield 0.0 if speed is None else (latest - first) / 1e6 / speed


def replay_message(
    record: RecordedFrame, *, captured_us: int, sent_us: int, new_id: str | None = None
) -> bytes:
    """The message that replays a recorded frame: new capture time and trace, maybe a new id."""
    frame = dict(record.frame)
    frame["capture_us"] = captured_us
    frame["trace"] = [{"hop": HOP, "received_us": captured_us, "sent_us": sent_us}]
    if new_id is not None:
        frame["frame_id"] = new_id
    return frame_message(frame)


def topic_limit(info: RecordingInfo) -> int:
    """The `max.message.bytes` the recording's frames need."""
    return message_limit(info.largest_message + _ROOM)


def check_fits(info: RecordingInfo, shape: Sequence[int], limit: int, model: str) -> None:
    """ConfigError unless every recorded frame has `shape` and fits in `limit` bytes."""
    shapes = sorted({s for _, s in info.tensors})
    if shapes and shapes != [tuple(shape)]:
        found = " and ".join(str(list(s)) for s in shapes)
        raise ConfigError(
            f"{info.path} holds frames of shape {found}, but {model} takes {list(shape)}"
        )
    if topic_limit(info) > limit:
        raise ConfigError(
            f"{info.path} holds frames of up to {info.largest_message:,} bytes, more than "
            f"the frames topic of {model} takes ({limit:,})"
        )


def ensure_topic(settings: KafkaSettings, spec: TopicSpec) -> bool:
    """Create the topic if it is missing (an existing one is left as it is); True if created."""
    try:
        topics = admin_client(settings).list_topics(spec.name, timeout=10).topics
    except KafkaException as exc:
        raise DeliveryError(f"cannot look up topic {spec.name!r}: {exc.args[0]}") from exc
    found = topics.get(spec.name)
    missing = found is None or (
        found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    )
    if not missing:
        return False
    return bool(create_topics(settings, [spec]))


def replay(
    settings: KafkaSettings,
    info: RecordingInfo,
    topic: str,
    *,
    speed: float | None = 1.0,
    new_ids: bool = False,
    max_message_bytes: int | None = None,
    run_id: str | None = None,
    on_sent: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Send a scanned recording's frames to `topic`, paced; wait for every acknowledgement.

    The producer's message limit is `max_message_bytes`, or what the frames need.
    """
    run = (run_id or uuid.uuid4().hex[:8]) if new_ids else None
    limit = max_message_bytes or topic_limit(info)
    producer = Producer(producer_config(settings, max_message_bytes=limit))
    try:  # connect and learn the topic before the clock starts, not during the first frames
        producer.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise DeliveryError(f"cannot reach topic {topic!r}: {exc.args[0]}") from exc
    acks = Acks()
    records, clock = itertools.tee(read_recording(info.path).frames)
    due = due_offsets((r.time_us for r in clock), speed)
    nbytes = 0
    late = 0.0
    first_us: int | None = None
    last_us = 0
    stopped = False
    start = time.monotonic()
    for sent, (record, offset) in enumerate(zip(records, due, strict=True), start=1):
        if acks.failures:
            break
        at = start + offset
        _wait_until(at, producer, stop)
        if stop is not None and stop.is_set():
            stopped = True
            break
        captured = now_us()
        if speed is not None:
            late = max(late, time.monotonic() - at)
        new_id = None
        if run is not None:
            new_id = frame_id(run, str(record.frame["sensor_id"]), int(record.frame["seq"]))
        value = replay_message(record, captured_us=captured, sent_us=now_us(), new_id=new_id)
        produce(producer, topic, value, record.key, acks)
        nbytes += len(value)
        first_us = record.time_us if first_us is None else first_us
        last_us = max(last_us, record.time_us)
        if on_sent is not None:
            on_sent(sent)
    remaining = producer.flush(60)
    seconds = time.monotonic() - start
    if acks.failures:
        raise DeliveryError(f"frames to {topic!r} were refused: {acks.failures[0]}")
    if remaining:
        raise DeliveryError(f"{remaining} frames to {topic!r} unacknowledged after 60 s")
    recorded_s = (last_us - first_us) / 1e6 if first_us is not None else 0.0
    log.info(
        "recording_replayed",
        topic=topic,
        path=str(info.path),
        frames=acks.acked,
        seconds=round(seconds, 2),
        max_late_ms=round(late * 1000, 1),
    )
    return ReplayReport(topic, run, acks.acked, nbytes, seconds, recorded_s, late * 1000, stopped)


def _wait_until(at: float, producer: Producer, stop: threading.Event | None) -> None:
    """Sleep until `at` (monotonic), serving delivery reports, waking for `stop`."""
    while (left := at - time.monotonic()) > 0:
        if stop is not None and stop.is_set():
            return
        producer.poll(0)
        time.sleep(min(left, 0.05))
