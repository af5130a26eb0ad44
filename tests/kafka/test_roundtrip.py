"""Avro activations of 1 KiB, 1 MiB and 8 MiB through the real broker, bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.admin import TopicSpec, create_topics, delete_topics
from edgesplit.kafka.io import consume_n, produce_all
from edgesplit.kafka.limits import DEFAULT_LIMIT, message_limit
from edgesplit.schemas import (
    Activation,
    Tensor,
    TraceStamp,
    decode_activation,
    encode_activation,
    now_us,
)

KiB = 1024
MiB = 1024 * KiB


def _activation(i: int, nbytes: int) -> Activation:
    rng = np.random.default_rng(i)
    array = rng.standard_normal(nbytes // 4, dtype=np.float32).reshape(1, -1)
    return Activation(
        frame_id=f"frame-{i}",
        sensor_id="cam-0",
        seq=i,
        capture_us=now_us(),
        plan_version=3,
        stage=0,
        tensors=(Tensor("cut0", array),),
        label=i % 10,
        trace=(TraceStamp("producer", now_us(), now_us()),),
    )


@pytest.mark.kafka
@pytest.mark.parametrize("nbytes", [KiB, MiB, 8 * MiB], ids=["1KiB", "1MiB", "8MiB"])
def test_activations_round_trip_bit_exact(kafka: KafkaSettings, unique: str, nbytes: int) -> None:
    sent = [_activation(i, nbytes) for i in range(3)]
    payloads = [encode_activation(a) for a in sent]
    limit = message_limit(max(len(p) for p in payloads))
    topic = f"roundtrip-{unique}"
    create_topics(kafka, [TopicSpec.for_messages(topic, limit)])
    try:
        produce_all(
            kafka,
            topic,
            ((a.sensor_id.encode(), p) for a, p in zip(sent, payloads, strict=True)),
            max_message_bytes=limit,
        )
        got = consume_n(kafka, topic, len(sent), max_message_bytes=limit, group_id=unique)
    finally:
        delete_topics(kafka, [topic])

    assert [m.key() for m in got] == [b"cam-0"] * len(sent)
    for msg, original, payload in zip(got, sent, payloads, strict=True):
        assert msg.value() == payload
        back = decode_activation(payload)
        assert back.frame_id == original.frame_id
        assert back.label == original.label
        assert back.trace == original.trace
        assert back.tensors[0].array.tobytes() == original.tensors[0].array.tobytes()
        assert back.tensors[0].array.shape == original.tensors[0].array.shape


@pytest.mark.kafka
def test_oversized_record_is_a_delivery_error_not_a_hang(kafka: KafkaSettings, unique: str) -> None:
    """A topic left at Kafka's 1 MiB default refuses an 8 MiB activation, loudly."""
    topic = f"small-{unique}"
    create_topics(kafka, [TopicSpec(topic)])
    payload = encode_activation(_activation(0, 8 * MiB))
    try:
        with pytest.raises(DeliveryError, match=r"too large|MSG_SIZE_TOO_LARGE"):
            produce_all(
                kafka,
                topic,
                [(None, payload)],
                max_message_bytes=message_limit(len(payload)),
                timeout_s=30,
            )
        with pytest.raises(DeliveryError, match=r"too large|MSG_SIZE_TOO_LARGE"):
            produce_all(
                kafka, topic, [(None, payload)], max_message_bytes=DEFAULT_LIMIT, timeout_s=30
            )
    finally:
        delete_topics(kafka, [topic])
