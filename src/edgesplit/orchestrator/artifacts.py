"""Stage partitions shipped through Kafka: content-addressed chunks on a compacted topic.

A partition (an `.onnx` file) is cut into 512 KiB chunks, each keyed `SHA256:IDX` and
carrying the total chunk count, the total size and the digest in its headers. Compaction
keeps the latest chunk per key, so an artifact stays whole for as long as it is needed;
a later record under the same key replaces a chunk, which is why the reader checks size
and sha256 before anything runs the file. A device then needs nothing but the broker.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Message

from edgesplit.config import KafkaSettings
from edgesplit.digest import sha256_file
from edgesplit.errors import ArtifactError, ConfigError
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.kafka.io import iter_to_end, produce_all
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger

TOPIC = "edgesplit.artifacts"
CHUNK_BYTES = 512 * 1024
LIMIT = message_limit(2 * CHUNK_BYTES)  # a produce batch may hold two chunks
H_CHUNKS, H_SIZE, H_SHA256 = "edgesplit-chunks", "edgesplit-size", "edgesplit-sha256"
log = get_logger("artifacts")


def ensure_topic(settings: KafkaSettings) -> None:
    spec = TopicSpec.compacted(TOPIC, LIMIT)
    create_topics(settings, [spec])


def chunk_key(digest: str, idx: int) -> bytes:
    return f"{digest}:{idx:05d}".encode()


def publish_artifact(settings: KafkaSettings, path: Path) -> str:
    """Publish a file's chunks (unless the topic already holds it whole); return its sha256."""
    return publish_artifacts(settings, [path])[0]


def publish_artifacts(settings: KafkaSettings, paths: Sequence[Path]) -> list[str]:
    """Publish several files (one scan of the topic, one producer); their sha256s in order."""
    files: dict[str, tuple[Path, bytes]] = {}
    digests = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path} to publish it: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        files[digest] = (path, data)
        digests.append(digest)
    ensure_topic(settings)
    found = _scan(settings, set(files), timeout_s=60)
    for digest in list(files):
        try:
            found[digest].assemble()
        except ArtifactError:
            continue
        log.info("artifact_present", sha256=digest, size=len(files.pop(digest)[1]))
    for digest, (path, data) in files.items():
        count = max(1, -(-len(data) // CHUNK_BYTES))
        headers: list[tuple[str, str | bytes | None]] = [
            (H_CHUNKS, str(count).encode()),
            (H_SIZE, str(len(data)).encode()),
            (H_SHA256, digest.encode()),
        ]
        records = (
            (chunk_key(digest, i), data[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES])
            for i in range(count)
        )
        produce_all(
            settings, TOPIC, records, max_message_bytes=LIMIT, headers=headers, idempotent=False
        )
        log.info("artifact_published", sha256=digest, size=len(data), chunks=count, file=str(path))
    return digests


def fetch_artifact(settings: KafkaSettings, digest: str, dest: Path, timeout_s: float = 60) -> Path:
    """Reassemble an artifact into `dest` (atomically), checked against size and sha256.

    A file already at `dest` with that digest is kept as it is. ArtifactError (naming the
    digest) if a chunk is missing or the bytes do not hash to `digest`.
    """
    if dest.is_file() and sha256_file(dest) == digest:
        return dest
    data = _scan(settings, {digest}, timeout_s=timeout_s)[digest].assemble()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("artifact_fetched", sha256=digest, size=len(data), file=str(dest))
    return dest


@dataclass
class _Found:
    """The chunks of one digest as the topic holds them (later records win)."""

    digest: str
    chunks: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    size: int | None = None

    def assemble(self) -> bytes:
        d = self.digest
        if self.total is None or self.size is None:
            raise ArtifactError(
                f"artifact {d} is not on {TOPIC}; publish its plan again "
                "(`edgesplit deploy PLAN --publish`)",
                digest=d,
            )
        missing = [i for i in range(self.total) if i not in self.chunks]
        if missing:
            raise ArtifactError(
                f"artifact {d} is incomplete on {TOPIC}: chunk(s) {missing[:5]} of "
                f"{self.total} missing; publish its plan again",
                digest=d,
            )
        data = b"".join(self.chunks[i] for i in range(self.total))
        got = hashlib.sha256(data).hexdigest()
        if len(data) != self.size or got != d:
            raise ArtifactError(
                f"artifact {d} on {TOPIC} is corrupt: {len(data)} bytes hashing to "
                f"{got[:12]}, expected {self.size} bytes; refusing to run it",
                digest=d,
            )
        return data


def _headers(msg: Message) -> dict[str, str]:
    raw = msg.headers() or []
    out = {}
    for k, v in raw.items() if isinstance(raw, dict) else raw:
        out[k] = v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
    return out


def _scan(settings: KafkaSettings, digests: set[str], *, timeout_s: float) -> dict[str, _Found]:
    """Read the artifacts topic to its end, keeping only the chunks of `digests`."""
    found = {d: _Found(d) for d in digests}
    records = iter_to_end(
        settings,
        TOPIC,
        max_message_bytes=LIMIT,
        timeout_s=timeout_s,
        group_id="edgesplit-artifacts",
    )
    for msg in records:
        digest, _, idx = (msg.key() or b"").decode(errors="replace").partition(":")
        if digest in found:
            _take(found[digest], idx, msg.value(), _headers(msg))
    return found


def _take(found: _Found, index: str, value: bytes | None, headers: dict[str, str]) -> None:
    if not index.isdigit():
        return
    idx = int(index)
    if value is None:  # a tombstone: the chunk was withdrawn
        found.chunks.pop(idx, None)
        return
    try:
        found.total, found.size = int(headers[H_CHUNKS]), int(headers[H_SIZE])
    except (KeyError, ValueError):
        log.warning("artifact_chunk_unlabelled", sha256=found.digest, chunk=idx)
        return
    found.chunks[idx] = value
