"""The foundation demo: Avro activations of several sizes and encodings through Kafka."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from edgesplit.config import KafkaSettings
from edgesplit.kafka.admin import TopicSpec, create_topics, delete_topics
from edgesplit.kafka.io import consume_n, produce_all
from edgesplit.kafka.limits import message_limit
from edgesplit.schemas import (
    Activation,
    Tensor,
    TensorEncoding,
    TraceStamp,
    decode_activation,
    encode_activation,
    now_us,
)

CASES = (
    ((1, 16, 16), "raw"),
    ((1, 32, 56, 56), "raw"),
    ((1, 32, 56, 56), "fp16"),
    ((1, 32, 56, 56), "int8+zstd"),
    ((1, 96, 112, 112), "raw"),
)


@dataclass(frozen=True)
class RoundTrip:
    shape: tuple[int, ...]
    encoding: str
    tensor_bytes: int
    wire_bytes: int
    bit_exact: bool
    max_abs_error: float


def roundtrip(
    settings: KafkaSettings, cases: tuple[tuple[tuple[int, ...], str], ...] = CASES
) -> list[RoundTrip]:
    """Produce one activation per case to a fresh topic, read them back and compare."""
    rng = np.random.default_rng(7)
    arrays = [np.maximum(rng.standard_normal(shape, dtype=np.float32), 0) for shape, _ in cases]
    encoded = [
        encode_activation(
            Activation(
                f"demo-{i}",
                "demo",
                i,
                now_us(),
                1,
                0,
                (Tensor("x", a),),
                trace=(TraceStamp("demo", now_us(), now_us()),),
            ),
            TensorEncoding.parse(enc),
        )
        for i, (a, (_, enc)) in enumerate(zip(arrays, cases, strict=True))
    ]
    limit = message_limit(max(len(e) for e in encoded))
    topic = f"edgesplit-demo-{uuid.uuid4().hex[:8]}"
    create_topics(settings, [TopicSpec.for_messages(topic, limit)])
    try:
        produce_all(settings, topic, ((b"demo", e) for e in encoded), max_message_bytes=limit)
        messages = consume_n(settings, topic, len(encoded), max_message_bytes=limit)
    finally:
        delete_topics(settings, [topic])
    out = []
    for msg, array, (shape, enc) in zip(messages, arrays, cases, strict=True):
        value = msg.value() or b""
        act = decode_activation(value)
        back = act.tensors[0].array
        out.append(
            RoundTrip(
                shape=shape,
                encoding=enc,
                tensor_bytes=array.nbytes,
                wire_bytes=len(value),
                bit_exact=back.tobytes() == array.tobytes(),
                max_abs_error=float(np.max(np.abs(back - array))),
            )
        )
    return out
