"""Message size limits that must agree across topic, producer and consumer.

Activations can exceed Kafka's 1 MiB default. A topic's `max.message.bytes`, the
producer's `message.max.bytes` and the consumer's fetch limits are all derived from
one number, so the three never disagree.
"""

from __future__ import annotations

MiB = 1024 * 1024
DEFAULT_LIMIT = MiB
_HEADROOM = 64 * 1024  # record batch framing, headers and keys


def message_limit(payload_bytes: int) -> int:
    """The size limit for records carrying `payload_bytes`: with headroom, whole MiB, >= 1 MiB."""
    if payload_bytes < 0:
        raise ValueError("payload_bytes must be non-negative")
    needed = payload_bytes + _HEADROOM
    return max(DEFAULT_LIMIT, -(-needed // MiB) * MiB)


def topic_config(limit: int) -> dict[str, str]:
    return {"max.message.bytes": str(limit)}


def producer_limits(limit: int) -> dict[str, int]:
    return {"message.max.bytes": limit}


def consumer_limits(limit: int) -> dict[str, int]:
    # librdkafka: fetch.max.bytes >= message.max.bytes, and
    # receive.message.max.bytes >= fetch.max.bytes + 512.
    fetch = max(limit, 50 * MiB)
    return {
        "message.max.bytes": limit,
        "max.partition.fetch.bytes": limit,
        "fetch.max.bytes": fetch,
        "receive.message.max.bytes": fetch + MiB,
    }
