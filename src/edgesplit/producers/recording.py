"""Recordings: a topic's `Frame` records in an Avro object container file.

One container record per frame, of the schema `edgesplit.RecordedFrame`:

    kafka_timestamp_ms  long | null   the record's Kafka timestamp (null if the broker gave none)
    key                 bytes | null  the record's Kafka key (the sensor id, for our producers)
    partition           int           where it was read: source partition ...
    offset              long          ... and offset
    frame               edgesplit.Frame  the record's value, as the Avro datum it holds

Frame, Tensor and TraceStamp are defined inline (the .avsc files, docs kept), so any Avro
reader (fastavro, avro-tools, Spark) reads the file without edgesplit. The frame is the
message body parsed with the Frame schema, never decoded to numpy: tensor bytes, encoding
and compression stay as they were, and writing the datum back with the Frame schema gives
the message body again, byte for byte. File metadata (`edgesplit.*` keys) says where the
frames came from: source topic and its partition count, bootstrap servers, when, and which
edgesplit version recorded them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.write import Writer

from edgesplit.errors import ConfigError, DecodeError
from edgesplit.schemas import decode_frame
from edgesplit.schemas.avro import HEADER_LEN, schema

CONTAINER_NAME = "edgesplit.RecordedFrame"
CODECS = ("deflate", "zstandard", "null")
AVRO_MAGIC = b"Obj\x01"  # the first four bytes of every Avro container file
_META = "edgesplit."
_SYNC_INTERVAL = 1024 * 1024  # about one MiB of frames per container block

Datum = dict[str, Any]


@dataclass(frozen=True)
class RecordedFrame:
    """One recorded Kafka record: its timestamp, key, origin, and the Frame datum."""

    kafka_timestamp_ms: int | None
    key: bytes | None
    partition: int
    offset: int
    frame: Datum

    @property
    def time_us(self) -> int:
        """When the record was produced: its Kafka timestamp, else the frame's capture time."""
        if self.kafka_timestamp_ms is None:
            return int(self.frame["capture_us"])
        return self.kafka_timestamp_ms * 1000

    def to_avro(self) -> Datum:
        return {
            "kafka_timestamp_ms": self.kafka_timestamp_ms,
            "key": self.key,
            "partition": self.partition,
            "offset": self.offset,
            "frame": self.frame,
        }

    @classmethod
    def from_avro(cls, datum: Datum) -> RecordedFrame:
        return cls(
            datum["kafka_timestamp_ms"],
            datum["key"],
            datum["partition"],
            datum["offset"],
            datum["frame"],
        )


@dataclass(frozen=True)
class RecordingMeta:
    """Where a recording came from; stored as the container's `edgesplit.*` metadata."""

    source_topic: str
    partitions: int
    bootstrap: str
    recorded_at: str  # ISO 8601, UTC
    version: str

    def to_avro(self) -> dict[str, str]:
        return {
            f"{_META}source_topic": self.source_topic,
            f"{_META}partitions": str(self.partitions),
            f"{_META}bootstrap": self.bootstrap,
            f"{_META}recorded_at": self.recorded_at,
            f"{_META}version": self.version,
        }

    @classmethod
    def from_avro(cls, meta: Mapping[str, str]) -> RecordingMeta:
        partitions = meta.get(f"{_META}partitions", "")
        return cls(
            meta.get(f"{_META}source_topic", ""),
            int(partitions) if partitions.isdigit() else 0,
            meta.get(f"{_META}bootstrap", ""),
            meta.get(f"{_META}recorded_at", ""),
            meta.get(f"{_META}version", ""),
        )


@dataclass(frozen=True)
class RecordingInfo:
    """A recording, read through once: its metadata and what replay needs to know."""

    path: Path
    meta: RecordingMeta
    codec: str
    frames: int
    largest_message: int  # bytes of the biggest frame message, as recorded
    tensors: tuple[tuple[str, tuple[int, ...]], ...]  # distinct (dtype, shape), first seen first
    first_us: int | None
    last_us: int | None

    @property
    def span_s(self) -> float:
        if self.first_us is None or self.last_us is None:
            return 0.0
        return (self.last_us - self.first_us) / 1e6


# --- the schema ----------------------------------------------------------------------


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every reference to a named type replaced by its definition (once each)."""
    if isinstance(node, str):
        return _inline(defs.pop(node), defs) if node in defs else node
    if isinstance(node, list):
        return [_inline(n, defs) for n in node]
    if isinstance(node, dict):
        return {
            k: _inline(v, defs) if k in ("type", "items", "fields") else v for k, v in node.items()
        }
    return node


@cache
def _container_json() -> str:
    folder = resources.files("edgesplit.schemas")
    defs = {
        f"edgesplit.{name}": json.loads((folder / f"{name}.avsc").read_text())
        for name in ("Tensor", "TraceStamp")
    }
    frame = _inline(json.loads((folder / "Frame.avsc").read_text()), defs)
    return json.dumps(
        {
            "type": "record",
            "name": "RecordedFrame",
            "namespace": "edgesplit",
            "doc": "One Frame record as `edgesplit record` read it from a Kafka topic.",
            "fields": [
                {
                    "name": "kafka_timestamp_ms",
                    "type": ["null", "long"],
                    "doc": "The record's Kafka timestamp, ms since the Unix epoch.",
                },
                {"name": "key", "type": ["null", "bytes"], "doc": "The record's Kafka key."},
                {"name": "partition", "type": "int", "doc": "Source partition."},
                {"name": "offset", "type": "long", "doc": "Offset in the source partition."},
                {"name": "frame", "type": frame, "doc": "The record's value."},
            ],
        }
    )


def container_schema() -> dict[str, Any]:
    """The container's record schema as plain JSON, every named type defined inline."""
    return cast(dict[str, Any], json.loads(_container_json()))


@cache
def _parsed() -> Any:
    return fastavro.parse_schema(container_schema())


# --- frames <-> datums -----------------------------------------------------------------


def frame_datum(message: bytes) -> Datum:
    """A Frame message's body as an Avro datum; DecodeError if the message is not a Frame.

    The message is checked by the codec (header, dtype, shape, byte count) first.
    """
    decode_frame(message)
    body = io.BytesIO(memoryview(message)[HEADER_LEN:])
    return cast(Datum, fastavro.schemaless_reader(body, schema("Frame").parsed, None))


def frame_message(datum: Datum) -> bytes:
    """A Frame datum as a message: single-object header + Avro body."""
    out = io.BytesIO()
    out.write(schema("Frame").header)
    fastavro.schemaless_writer(out, schema("Frame").parsed, datum)
    return out.getvalue()


# --- writing ---------------------------------------------------------------------------


def check_codec(codec: str) -> None:
    """ConfigError unless fastavro can write `codec` here (zstandard needs an extra library)."""
    if codec not in CODECS:
        raise ConfigError(f"unknown container codec {codec!r}; use one of {', '.join(CODECS)}")
    probe = {"type": "record", "name": "Probe", "fields": []}
    try:
        fastavro.writer(io.BytesIO(), probe, [{}], codec=codec)
    except ValueError as exc:
        raise ConfigError(
            f"cannot write the {codec} codec here ({exc}); use --codec deflate"
        ) from exc


class RecordingWriter:
    """Writes a recording to `path.part`; `close()` renames it into place, `abort()` removes it."""

    def __init__(self, path: Path, meta: RecordingMeta, codec: str = "deflate") -> None:
        check_codec(codec)
        self.path = path
        self.frames = 0
        self._part = path.with_name(path.name + ".part")
        try:
            self._file = self._part.open("wb")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        self._writer = Writer(
            self._file,
            _parsed(),
            codec=codec,
            sync_interval=_SYNC_INTERVAL,
            metadata=meta.to_avro(),
        )

    def write(self, record: RecordedFrame) -> None:
        self._writer.write(record.to_avro())
        self.frames += 1

    def close(self) -> None:
        self._writer.flush()
        self._file.close()
        self._part.replace(self.path)

    def abort(self) -> None:
        self._file.close()
        self._part.unlink(missing_ok=True)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_recording(
    path: Path, meta: RecordingMeta, records: Iterable[RecordedFrame], codec: str = "deflate"
) -> int:
    """Write a whole recording; returns the number of frames."""
    with RecordingWriter(path, meta, codec) as writer:
        for record in records:
            writer.write(record)
        return writer.frames


# --- reading ---------------------------------------------------------------------------


def _full_name(schema_: Any) -> str:
    if not isinstance(schema_, dict):
        return str(schema_)
    name = str(schema_.get("name", schema_.get("type", "?")))
    namespace = schema_.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def _bad(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path} is not an edgesplit recording: {why}; make one with `edgesplit record`"
    )


@dataclass(frozen=True)
class Recording:
    """An open recording: its metadata, container codec, and frames (read lazily, once)."""

    meta: RecordingMeta
    codec: str
    frames: Iterator[RecordedFrame]


def read_recording(path: Path) -> Recording:
    """A recording's metadata and frames, in file order; ConfigError if it is not one.

    The frames are read lazily: a file that breaks off later raises ConfigError when
    iteration gets there (`scan_recording` reads it all first).
    """
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read recording {path}: {exc.strerror}") from exc
    try:
        if fh.read(len(AVRO_MAGIC)) != AVRO_MAGIC:
            raise ValueError("no Avro magic")
        fh.seek(0)
        reader = fastavro.reader(fh, reader_schema=_parsed())
    except Exception as exc:  # a broken header breaks fastavro in many ways (MemoryError too)
        fh.close()
        raise _bad(path, "it is not an Avro container file") from exc
    found = _full_name(reader.writer_schema)
    if found != CONTAINER_NAME:
        fh.close()
        raise _bad(path, f"its records are {found}, not {CONTAINER_NAME}")
    meta = RecordingMeta.from_avro(reader.metadata)
    return Recording(meta, str(reader.codec), _records(path, fh, reader))


def _records(path: Path, fh: io.BufferedReader, reader: Iterator[Any]) -> Iterator[RecordedFrame]:
    with fh:
        try:
            for datum in reader:
                yield RecordedFrame.from_avro(cast(Datum, datum))
        except SchemaResolutionError as exc:
            raise _bad(path, f"its {CONTAINER_NAME} schema does not match this version's") from exc
        except EOFError as exc:
            raise _bad(path, f"the file is cut short ({exc})") from exc
        except Exception as exc:  # a corrupt block breaks fastavro in many ways
            raise _bad(path, f"reading it failed ({type(exc).__name__}: {exc})") from exc


def scan_recording(path: Path) -> RecordingInfo:
    """Read a recording through: check every frame, count them, size them."""
    recording = read_recording(path)
    frames = largest = 0
    tensors: dict[tuple[str, tuple[int, ...]], None] = {}
    first: int | None = None
    last: int | None = None
    for record in recording.frames:
        message = frame_message(record.frame)
        try:
            decode_frame(message)
        except DecodeError as exc:
            raise _bad(path, f"frame {frames} is not a valid Frame ({exc})") from exc
        tensor = record.frame["tensor"]
        tensors[(str(tensor["dtype"]), tuple(int(d) for d in tensor["shape"]))] = None
        largest = max(largest, len(message))
        first = record.time_us if first is None else first
        last = record.time_us if last is None else max(last, record.time_us)
        frames += 1
    return RecordingInfo(
        path, recording.meta, recording.codec, frames, largest, tuple(tensors), first, last
    )
