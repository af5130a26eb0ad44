"""This tier's path to the broker, measured through the broker itself.

On a fresh probe topic (deleted afterwards):

- rtt: produce one small record and wait for its acknowledgement, a few times (median);
- hop: produce one small record and wait until a consumer in this process has it
  (median): one broker hop as a stage sees it;
- uplink: records of `probe_bytes` (incompressible) produced back to back, payload bits
  per second from the first produce to the last acknowledgement. A small burst first
  sizes the run, so that it lasts about `target_s` at the measured rate but never more
  than `max_s` at 5 Mbit/s (a slow edge link is measured in seconds, not minutes).
"""

from __future__ import annotations

import math
import os
import statistics
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.admin import TopicSpec, create_topics, delete_topics
from edgesplit.kafka.clients import consumer_config, producer_config
from edgesplit.kafka.io import produce_waiting
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger
from edgesplit.orchestrator.profile import LinkProfile

PROBE_PREFIX = "edgesplit.probe-"
SMALL = 64  # bytes of the rtt / hop records
_SLOW_BPS = 5e6  # the slowest link the probe's size is capped for
_BURST = 3
log = get_logger("orchestrator.linkprobe")


def probe_link(
    settings: KafkaSettings,
    probe_bytes: int = 100 * 1024,
    *,
    rounds: int = 9,
    target_s: float = 2.0,
    max_s: float = 5.0,
    timeout_s: float = 30.0,
) -> LinkProfile:
    topic = f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
    limit = message_limit(probe_bytes)
    create_topics(settings, [TopicSpec.for_messages(topic, limit)])
    try:
        producer = Producer(producer_config(settings, max_message_bytes=limit, **{"linger.ms": 0}))
        conf = consumer_config(settings, group_id=f"{topic}-hop", max_message_bytes=limit)
        conf |= {"fetch.wait.max.ms": 100, "enable.auto.commit": False}
        consumer = Consumer(conf)
        try:
            rtt = _rtt_ms(producer, topic, rounds, timeout_s)
            hop = _hop_ms(producer, consumer, topic, rounds, timeout_s)
            max_records = max(_BURST + 1, math.ceil(max_s * _SLOW_BPS / 8 / probe_bytes))
            uplink = _uplink_bps(producer, topic, probe_bytes, target_s, max_records, timeout_s)
        finally:
            consumer.close()
    finally:
        delete_topics(settings, [topic])
    log.info(
        "link_probed", uplink_mbit=round(uplink / 1e6, 2), rtt_ms=round(rtt, 2),
        hop_ms=round(hop, 2), probe_bytes=probe_bytes,
    )  # fmt: skip
    return LinkProfile(
        uplink_bps=uplink, rtt_ms=rtt, hop_ms=hop, probe_bytes=probe_bytes,
        measured_at=time.time(),
    )  # fmt: skip


class _Acks:
    """Delivery callbacks of one producer: how many were acknowledged, the first failure."""

    def __init__(self) -> None:
        self.count = 0
        self.error: str | None = None

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.error = self.error or str(err)
        else:
            self.count += 1

    def wait(self, producer: Producer, count: int, timeout_s: float, topic: str) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count < count and self.error is None:
            if time.monotonic() > deadline:
                raise DeliveryError(f"the link probe to {topic!r} got no acknowledgement")
            producer.poll(0.001)
        if self.error is not None:
            raise DeliveryError(f"the link probe could not produce to {topic!r}: {self.error}")


def _rtt_ms(producer: Producer, topic: str, rounds: int, timeout_s: float) -> float:
    acks = _Acks()
    times = []
    for i in range(rounds + 1):  # the first pays for metadata and connections
        start = time.perf_counter()
        produce_waiting(producer, topic, os.urandom(SMALL), acks)
        acks.wait(producer, i + 1, timeout_s, topic)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:])


def _hop_ms(
    producer: Producer, consumer: Consumer, topic: str, rounds: int, timeout_s: float
) -> float:
    consumer.assign([TopicPartition(topic, 0, 0)])
    acks = _Acks()
    times: list[float] = []
    deadline = time.monotonic() + timeout_s
    for i in range(rounds + 1):
        marker = f"hop-{i}-{uuid.uuid4().hex}".encode()
        start = time.perf_counter()
        produce_waiting(producer, topic, marker, acks)
        while True:
            producer.poll(0)
            msg = consumer.poll(0.001)
            if msg is not None and msg.error() is None and msg.value() == marker:
                times.append((time.perf_counter() - start) * 1000)
                break
            if time.monotonic() > deadline:
                raise DeliveryError(f"the link probe's consumer never received from {topic!r}")
    acks.wait(producer, rounds + 1, timeout_s, topic)
    return statistics.median(times[1:])  # the first waits for the consumer's first fetch


def _uplink_bps(
    producer: Producer,
    topic: str,
    size: int,
    target_s: float,
    max_records: int,
    timeout_s: float,
) -> float:
    payload = os.urandom(size)
    burst_bps = _timed_run(producer, topic, payload, _BURST, timeout_s)
    records = math.ceil(target_s * burst_bps / 8 / size)
    records = min(max(records, _BURST + 1), max_records)
    return _timed_run(producer, topic, payload, records, timeout_s)


def _timed_run(
    producer: Producer, topic: str, payload: bytes, records: int, timeout_s: float
) -> float:
    """Payload bits per second of `records` produced back to back, until all acknowledged."""
    acks = _Acks()
    start = time.perf_counter()
    for _ in range(records):
        produce_waiting(producer, topic, payload, acks)
        producer.poll(0)
    acks.wait(producer, records, timeout_s, topic)
    elapsed = max(time.perf_counter() - start, 1e-6)
    return records * len(payload) * 8 / elapsed
