"""Stage partitions through the artifacts topic (real broker): chunks, checks, cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.errors import ArtifactError
from edgesplit.kafka.io import produce_all, read_to_end
from edgesplit.orchestrator.artifacts import (
    H_CHUNKS,
    H_SHA256,
    H_SIZE,
    LIMIT,
    TOPIC,
    chunk_key,
    fetch_artifact,
    publish_artifact,
)

pytestmark = pytest.mark.kafka


def _end(kafka: KafkaSettings) -> int:
    from confluent_kafka import Consumer  # noqa: PLC0415

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": "t"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)[1])
    finally:
        consumer.close()


def test_a_1_3_mib_partition_round_trips_in_3_chunks_bit_exact(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    source = tmp_path / "stage-0.onnx"
    data = os.urandom(1_363_149)  # 1.3 MiB
    source.write_bytes(data)
    digest = publish_artifact(kafka, source)
    chunks = [m for m in read_to_end(kafka, TOPIC) if (m.key() or b"").startswith(digest.encode())]
    assert sorted(m.key() or b"" for m in chunks) == [chunk_key(digest, i) for i in range(3)]
    assert all(len(m.value() or b"") <= 512 * 1024 for m in chunks)

    dest = tmp_path / "fetched" / "stage-0.onnx"
    assert fetch_artifact(kafka, digest, dest) == dest
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["stage-0.onnx"]  # no temp file left

    end = _end(kafka)
    assert publish_artifact(kafka, source) == digest  # already whole on the topic: skipped
    assert _end(kafka) == end
    dest.write_bytes(b"stale")  # a different file at dest is replaced
    assert fetch_artifact(kafka, digest, dest).read_bytes() == data


def test_a_tampered_chunk_is_refused_with_the_digest_named(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    source = tmp_path / "stage-1.onnx"
    data = os.urandom(700_000)
    source.write_bytes(data)
    digest = publish_artifact(kafka, source)
    # A later record under the same key wins on a compacted topic: a wrong chunk.
    headers: list[tuple[str, str | bytes | None]] = [
        (H_CHUNKS, b"2"),
        (H_SIZE, str(len(data)).encode()),
        (H_SHA256, digest.encode()),
    ]
    tampered = bytearray(data[512 * 1024 :])
    tampered[100] ^= 0xFF
    produce_all(
        kafka,
        TOPIC,
        [(chunk_key(digest, 1), bytes(tampered))],
        max_message_bytes=LIMIT,
        headers=headers,
    )
    dest = tmp_path / "out" / "stage-1.onnx"
    with pytest.raises(ArtifactError, match=f"artifact {digest} .* is corrupt") as caught:
        fetch_artifact(kafka, digest, dest)
    assert caught.value.digest == digest
    assert not dest.exists()
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_an_unknown_digest_is_a_typed_error(kafka: KafkaSettings, tmp_path: Path) -> None:
    digest = "0" * 64
    with pytest.raises(ArtifactError, match=f"artifact {digest} is not on {TOPIC}"):
        fetch_artifact(kafka, digest, tmp_path / "x.onnx")
