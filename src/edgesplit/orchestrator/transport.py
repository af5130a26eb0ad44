"""What a stage spends around ONNX Runtime per record: consuming and producing, measured.

A stage's loop costs CPU beyond its model: librdkafka fetches, copies and checksums the
records in its own threads, and the Python loop consumes, produces, takes delivery
callbacks and stores offsets. On a tier under a CPU quota all of it shares the quota with
ONNX Runtime; on a roomy tier the librdkafka threads run beside it and only the loop's own
thread adds to the stage's time per frame.

Measured on the tier, through the broker, like a stage does it: a topic is filled with
records (untimed), then a relay consumes them in micro-batches and produces each one on,
with delivery callbacks and offset stores, until every record is acknowledged. Done at two
record sizes, the CPU time (the loop's thread, and the whole process) gives a cost per
record and per byte (consumed plus produced). The relay is paced at half the uplink: a
stage whose link keeps up sends at its own pace (a backlogged link costs more CPU, in
drops and retransmissions, but then the link is the bottleneck, not the CPU). The bytes
moved are capped so that a slow uplink is measured in seconds.
"""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.admin import TopicSpec, create_topics, delete_topics
from edgesplit.kafka.clients import consumer_config, producer_config
from edgesplit.kafka.io import produce_all, produce_waiting
from edgesplit.kafka.limits import MiB, message_limit
from edgesplit.log import get_logger
from edgesplit.orchestrator.profile import TransportCost

PREFIX = "edgesplit.transport-"
SMALL, LARGE = 1024, 128 * 1024
BUDGET_BYTES = 8 * MiB  # per size, each way
log = get_logger("orchestrator.transport")


def measure_transport(
    settings: KafkaSettings, uplink_bps: float, *, seconds: float = 3.0, timeout_s: float = 120.0
) -> TransportCost:
    pace = uplink_bps / 8 / 2  # bytes per second
    small = _relay_cpu(settings, SMALL, pace, seconds, timeout_s)
    large = _relay_cpu(settings, LARGE, pace, seconds, timeout_s)
    moved = 2 * (LARGE - SMALL)  # bytes consumed + produced per record, difference
    main_ns = max((large[0] - small[0]) * 1e9 / moved, 0.0)
    total_ns = max((large[1] - small[1]) * 1e9 / moved, 0.0)
    cost = TransportCost(
        main_us_per_record=max(small[0] * 1e6 - main_ns * 2 * SMALL / 1000, 0.0),
        main_ns_per_byte=main_ns,
        total_us_per_record=max(small[1] * 1e6 - total_ns * 2 * SMALL / 1000, 0.0),
        total_ns_per_byte=total_ns,
    )
    log.info("transport_measured", **cost.model_dump())
    return cost


def _relay_cpu(
    settings: KafkaSettings, size: int, pace: float, seconds: float, timeout_s: float
) -> tuple[float, float]:
    """CPU seconds per record (the loop's thread, the process) to relay records of `size`
    at `pace` bytes per second."""
    count = max(8, min(2000, BUDGET_BYTES // size, int(pace * seconds / size)))
    limit = message_limit(size)
    source, sink = f"{PREFIX}{uuid.uuid4().hex[:12]}", f"{PREFIX}{uuid.uuid4().hex[:12]}"
    create_topics(settings, [TopicSpec.for_messages(t, limit) for t in (source, sink)])
    try:
        payload = os.urandom(size)
        produce_all(
            settings, source, [(None, payload)] * count, max_message_bytes=limit,
            timeout_s=timeout_s,
        )  # fmt: skip
        producer = Producer(producer_config(settings, max_message_bytes=limit))
        conf = consumer_config(settings, group_id=source, max_message_bytes=limit)
        consumer = Consumer(conf)
        try:
            consumer.assign([TopicPartition(source, 0, 0)])
            return _relay(consumer, producer, sink, count, pace, timeout_s)
        finally:
            consumer.close()
    finally:
        delete_topics(settings, [source, sink])


def _relay(
    consumer: Consumer, producer: Producer, sink: str, count: int, pace: float, timeout_s: float
) -> tuple[float, float]:
    acked = [0]

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            acked[0] += 1

    start = time.monotonic()
    deadline = start + timeout_s
    seen = sent = 0
    main0, total0 = time.thread_time(), time.process_time()
    while seen < count or acked[0] < count:
        if time.monotonic() > deadline:
            raise DeliveryError(f"the transport probe relayed {acked[0]}/{count} records")
        for msg in consumer.consume(4, timeout=0.05) if seen < count else ():
            if msg.error() is not None:
                continue
            seen += 1
            value = msg.value() or b""
            ahead = sent / pace - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            produce_waiting(producer, sink, value, on_delivery)
            sent += len(value)
            consumer.store_offsets(msg)
        producer.poll(0 if seen < count else 0.01)
    return (time.thread_time() - main0) / count, (time.process_time() - total0) / count
