"""Reading the dead-letter topic back: each refused record with its reason."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.clients import consumer_config
from edgesplit.stages.deadletters import read_headers


def read_dead_letters(
    settings: KafkaSettings, topic: str, *, limit: int = 1000, timeout_s: float = 5.0
) -> list[dict[str, str]]:
    """The first `limit` dead letters: their headers plus `bytes` (the record's size)."""
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"edgesplit-dlq-{uuid.uuid4().hex[:8]}",
            max_message_bytes=64 * 1024 * 1024,
        )
        | {"enable.auto.commit": False, "enable.partition.eof": True}
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        parts = list(meta.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[dict[str, str]] = []
        at_end: set[int] = set()
        while len(out) < limit and len(at_end) < len(parts):
            msg = consumer.poll(timeout_s)
            if msg is None:
                break
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition() or 0)
                    continue
                raise DeliveryError(f"reading dead letters: {err}")
            out.append(read_headers(msg) | {"bytes": str(len(msg.value() or b""))})
        return out
    finally:
        consumer.close()
