"""Configurations for confluent-kafka producers and consumers.

Consumers never store offsets automatically: the caller stores a message's offset with
`store_offsets` once its work is done and acknowledged (at-least-once); librdkafka's
auto-commit then commits what was stored.
"""

from __future__ import annotations

import logging
from typing import Any

from edgesplit.config import KafkaSettings
from edgesplit.kafka.limits import DEFAULT_LIMIT, consumer_limits, producer_limits

Conf = dict[str, Any]

# librdkafka's own log lines go through the stdlib; the CLI decides whether they show.
librdkafka_logger = logging.getLogger("edgesplit.librdkafka")


def producer_config(
    settings: KafkaSettings, *, max_message_bytes: int = DEFAULT_LIMIT, **overrides: Any
) -> Conf:
    conf: Conf = settings.librdkafka()
    conf.update(
        {
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            # Kafka's own partitioner (the Java client's): keys land where any client puts
            # them, and similar keys spread (librdkafka's CRC32 put sensor-0..3 all on one
            # of two partitions, leaving a stage replica nothing to do).
            "partitioner": "murmur2_random",
            "logger": librdkafka_logger,
        }
    )
    conf.update(producer_limits(max_message_bytes))
    conf.update(overrides)
    return conf


def consumer_config(
    settings: KafkaSettings,
    *,
    group_id: str,
    max_message_bytes: int = DEFAULT_LIMIT,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> Conf:
    conf: Conf = settings.librdkafka()
    conf.update(
        {
            "group.id": group_id,
            "auto.offset.reset": auto_offset_reset,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            "logger": librdkafka_logger,
        }
    )
    conf.update(consumer_limits(max_message_bytes))
    conf.update(overrides)
    return conf
