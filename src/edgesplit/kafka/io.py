"""Whole-batch produce and consume, for tools, demos and tests (stages stream instead)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.clients import consumer_config, producer_config
from edgesplit.kafka.limits import DEFAULT_LIMIT


def produce_waiting(
    producer: Producer,
    topic: str,
    value: bytes,
    on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
) -> None:
    """Produce one record, waiting for deliveries while the producer's queue is full."""
    while True:
        try:
            producer.produce(topic, value=value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.01)


def produce_all(
    settings: KafkaSettings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    *,
    max_message_bytes: int = DEFAULT_LIMIT,
    timeout_s: float = 60.0,
    headers: list[tuple[str, str | bytes | None]] | None = None,
    idempotent: bool = True,
) -> list[Message]:
    """Produce (key, value) pairs in order and wait for every acknowledgement.

    `headers` go on every record; a value of None is a tombstone. `idempotent=False` saves
    the ~0.5 s an idempotent producer spends getting its id (fine for keyed control records,
    where a retried duplicate is harmless)."""
    producer = Producer(
        producer_config(
            settings,
            max_message_bytes=max_message_bytes,
            **({} if idempotent else {"enable.idempotence": False, "max.in.flight": 1}),
        )
    )
    acked: list[Message] = []
    failed: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            acked.append(msg)

    sent = 0
    for key, value in records:
        while True:
            try:
                producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryError(f"cannot produce to {topic!r}: {exc.args[0]}") from exc
        sent += 1
        producer.poll(0)
    remaining = producer.flush(timeout_s)
    if failed:
        raise DeliveryError(f"{len(failed)} of {sent} records to {topic!r} failed: {failed[0]}")
    if remaining:
        raise DeliveryError(f"{remaining} records to {topic!r} unacknowledged after {timeout_s}s")
    return acked


def consume_n(
    settings: KafkaSettings,
    topic: str,
    count: int,
    *,
    max_message_bytes: int = DEFAULT_LIMIT,
    timeout_s: float = 60.0,
    partitions: int = 1,
    **conf: Any,
) -> list[Message]:
    """Read the first `count` records of a topic from the beginning (no group offsets)."""
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=conf.pop("group_id", "edgesplit-reader"),
            max_message_bytes=max_message_bytes,
        )
        | {"enable.auto.commit": False}
        | conf
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeliveryError(
                    f"read {len(out)} of {count} records from {topic!r} in {timeout_s}s"
                )
            msg = consumer.poll(min(left, 1.0))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DeliveryError(f"reading {topic!r}: {err}")
            out.append(msg)
    finally:
        consumer.close()
    return out


def read_to_end(
    settings: KafkaSettings,
    topic: str,
    *,
    max_message_bytes: int = 64 * 1024 * 1024,
    timeout_s: float = 30.0,
    limit: int | None = None,
) -> list[Message]:
    """Every record of a topic up to the end it had when this call started (no group).

    A missing topic reads as empty. Records come partition by partition, in offset order.
    """
    records = iter_to_end(settings, topic, max_message_bytes=max_message_bytes, timeout_s=timeout_s)
    return list(records if limit is None else itertools.islice(records, limit))


def iter_to_end(
    settings: KafkaSettings,
    topic: str,
    *,
    max_message_bytes: int = 64 * 1024 * 1024,
    timeout_s: float = 30.0,
    group_id: str = "edgesplit-reader",
) -> Iterator[Message]:
    """`read_to_end`, one record at a time (a caller keeping only some holds only those)."""
    consumer = Consumer(
        consumer_config(settings, group_id=group_id, max_message_bytes=max_message_bytes)
        | {"enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return
        ends = {}
        for p in meta.partitions:
            low, high = watermarks(consumer, TopicPartition(topic, p))
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise DeliveryError(f"reading {topic!r} to its end took over {timeout_s}s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DeliveryError(f"reading {topic!r}: {err}")
            p, off = msg.partition() or 0, msg.offset() or 0
            if p in ends and off < ends[p]:
                yield msg
            if p in ends and off + 1 >= ends[p]:
                del ends[p]
    finally:
        consumer.close()


def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """Each partition's log end offset (high watermark); a missing topic is empty."""
    consumer = Consumer(
        consumer_config(settings, group_id="edgesplit-reader") | {"enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return {}
        return {p: watermarks(consumer, TopicPartition(topic, p))[1] for p in meta.partitions}
    finally:
        consumer.close()


def watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float = 10.0) -> tuple[int, int]:
    """Low and high watermarks of a partition, waiting out a new topic's leader election."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
            return int(low), int(high)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, KafkaError) and (
                err.retriable()
                or err.code()
                in (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
            )
            if not retriable or time.monotonic() > deadline:
                raise DeliveryError(
                    f"cannot read the offsets of {tp.topic}[{tp.partition}]: {err}"
                ) from exc
            time.sleep(0.2)
