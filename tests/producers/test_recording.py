"""Recording files and the replay schedule, without a broker."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import fastavro
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.errors import ConfigError, DecodeError
from edgesplit.producers.recorder import TimeOrder
from edgesplit.producers.recording import (
    AVRO_MAGIC,
    RecordedFrame,
    RecordingMeta,
    check_codec,
    container_schema,
    frame_datum,
    frame_message,
    read_recording,
    scan_recording,
    write_recording,
)
from edgesplit.producers.replay import (
    HOP,
    check_fits,
    due_offsets,
    parse_speed,
    replay_message,
)
from edgesplit.schemas import (
    Compression,
    Encoding,
    Frame,
    Tensor,
    TensorEncoding,
    TraceStamp,
    decode_frame,
    encode_frame,
)

META = RecordingMeta("frames-t", 2, "localhost:9092", "2025-01-01T00:00:00+00:00", "0.1.0")
ENCODINGS = [
    TensorEncoding(),
    TensorEncoding(Encoding.FP16),
    TensorEncoding(Encoding.INT8),
    TensorEncoding(Encoding.RAW, Compression.ZSTD),
    TensorEncoding(Encoding.INT8, Compression.LZ4),
]


def make_frame(seq: int, array: np.ndarray | None = None, label: int | None = 3) -> Frame:
    rng = np.random.default_rng(seq)
    data = array if array is not None else rng.integers(0, 256, (28, 28), dtype=np.uint8)
    return Frame(
        f"run:sensor-{seq % 2}:{seq}",
        f"sensor-{seq % 2}",
        seq,
        1_700_000_000_000_000 + seq,
        Tensor("frame", data),
        label,
        (TraceStamp("producer", 1, 2),),
    )


def recorded(seq: int, ts_ms: int | None, partition: int = 0) -> RecordedFrame:
    frame = make_frame(seq)
    return RecordedFrame(
        ts_ms, frame.sensor_id.encode(), partition, seq, frame_datum(encode_frame(frame))
    )


def plain_rows(reader: Iterable[Any]) -> list[dict[str, Any]]:
    """What plain fastavro reads: one dict per container record."""
    rows = list(reader)
    assert all(isinstance(r, dict) for r in rows)
    return cast(list[dict[str, Any]], rows)


@pytest.mark.parametrize("enc", ENCODINGS, ids=str)
def test_a_frame_datum_writes_back_to_the_same_bytes(enc: TensorEncoding) -> None:
    array = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    message = encode_frame(make_frame(1, array, label=None), enc)
    datum = frame_datum(message)
    assert datum["tensor"]["encoding"] == enc.encoding.name
    assert frame_message(datum) == message


@given(
    st.binary(min_size=0, max_size=64),
    st.integers(-(2**62), 2**62),
    st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    st.lists(
        st.tuples(st.text(max_size=8), st.integers(0, 2**62), st.integers(0, 2**62)), max_size=4
    ),
)
def test_any_frame_survives_the_container_bit_for_bit(
    data: bytes, capture: int, label: int | None, trace: list[tuple[str, int, int]]
) -> None:
    frame = Frame(
        "id",
        "s",
        7,
        capture,
        Tensor("x", np.frombuffer(data, np.uint8)),
        label,
        tuple(TraceStamp(*t) for t in trace),
    )
    message = encode_frame(frame)
    buf = io.BytesIO()
    fastavro.writer(
        buf, container_schema(), [RecordedFrame(1, None, 0, 0, frame_datum(message)).to_avro()]
    )
    buf.seek(0)
    (datum,) = plain_rows(fastavro.reader(buf))
    assert frame_message(datum["frame"]) == message


def test_a_message_that_is_not_a_frame_is_refused() -> None:
    with pytest.raises(DecodeError):
        frame_datum(b"\xc3\x01garbage-garbage")
    with pytest.raises(DecodeError):
        frame_datum(b"not avro at all")


def test_the_file_is_plain_avro_with_metadata(tmp_path: Path) -> None:
    path = tmp_path / "stream.avro"
    frames = [recorded(i, 1000 + 20 * i) for i in range(5)]
    assert write_recording(path, META, frames) == 5
    assert not (tmp_path / "stream.avro.part").exists()
    with path.open("rb") as fh:  # fastavro alone: no edgesplit schema given
        reader = fastavro.reader(fh)
        rows = plain_rows(reader)
        meta = reader.metadata
        writer_schema = cast(dict[str, Any], reader.writer_schema)
    assert meta["avro.codec"] == "deflate"
    assert meta["edgesplit.source_topic"] == "frames-t"
    assert meta["edgesplit.partitions"] == "2"
    assert meta["edgesplit.bootstrap"] == "localhost:9092"
    assert meta["edgesplit.recorded_at"].startswith("2025-01-01T")
    assert meta["edgesplit.version"] == "0.1.0"
    assert writer_schema["name"] == "edgesplit.RecordedFrame"
    assert [r["kafka_timestamp_ms"] for r in rows] == [1000 + 20 * i for i in range(5)]
    assert [r["key"] for r in rows] == [f"sensor-{i % 2}".encode() for i in range(5)]
    assert rows[3]["frame"]["tensor"]["data"] == make_frame(3).tensor.array.tobytes()
    assert rows[3]["frame"]["label"] == 3

    info = scan_recording(path)
    assert info.frames == 5
    assert info.meta == META
    assert info.tensors == (("uint8", (28, 28)),)
    assert info.span_s == pytest.approx(0.08)
    assert info.largest_message == max(len(encode_frame(make_frame(i))) for i in range(5))
    back = list(read_recording(path).frames)
    assert back == frames


def test_the_schema_names_every_type_once_inline() -> None:
    text = str(container_schema())
    for name in ("Frame", "Tensor", "TraceStamp", "Encoding", "Compression"):
        assert text.count(f"'name': '{name}'") == 1
    fastavro.parse_schema(container_schema())  # valid on its own, no named types needed


def test_random_bytes_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.avro"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(
        ConfigError, match=r"not an edgesplit recording: it is not an Avro container"
    ):
        read_recording(path)
    with pytest.raises(ConfigError, match="cannot read recording"):
        read_recording(tmp_path / "missing.avro")


@pytest.mark.parametrize("seed", [1, 27, *range(100, 140)])
@pytest.mark.parametrize("size", [0, 5, 100, 4096])
def test_avro_magic_then_noise_is_a_clear_error(tmp_path: Path, seed: int, size: int) -> None:
    # the magic passes, then fastavro's header reader broke with IndexError, KeyError or
    # MemoryError (a huge length prefix), depending on the noise
    path = tmp_path / "noise.avro"
    path.write_bytes(AVRO_MAGIC + random.Random(seed).randbytes(size))
    with pytest.raises(ConfigError, match="not an edgesplit recording"):
        read_recording(path)


def test_a_container_of_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.avro"
    other = {
        "type": "record",
        "name": "Reading",
        "namespace": "acme",
        "fields": [{"name": "v", "type": "double"}],
    }
    with path.open("wb") as fh:
        fastavro.writer(fh, other, [{"v": 1.0}])
    with pytest.raises(
        ConfigError, match=r"its records are acme\.Reading, not edgesplit\.RecordedFrame"
    ):
        scan_recording(path)


def test_a_cut_short_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.avro"
    write_recording(path, META, [recorded(i, i) for i in range(40)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 500])
    with pytest.raises(ConfigError, match="cut short"):
        scan_recording(path)


@pytest.mark.parametrize("seed", range(12))
def test_a_corrupt_block_is_a_clear_error(tmp_path: Path, seed: int) -> None:
    # bytes flipped after the header broke fastavro with IndexError (an enum index)
    path = tmp_path / "corrupt.avro"
    write_recording(path, META, [recorded(i, i) for i in range(40)], codec="null")
    data, rng = bytearray(path.read_bytes()), random.Random(seed)
    for _ in range(8):
        data[rng.randrange(300, len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))
    try:
        scan_recording(path)
    except ConfigError as exc:
        assert "not an edgesplit recording" in str(exc)
    # else: only pixels changed, which a "null"-codec container cannot tell


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "x.avro"
    with pytest.raises(RuntimeError):
        write_recording(path, META, (_boom() for _ in range(1)))
    assert list(tmp_path.iterdir()) == []


def _boom() -> RecordedFrame:
    raise RuntimeError("source failed")


def test_unknown_codec_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown container codec"):
        check_codec("snappy2")
    check_codec("deflate")
    check_codec("null")


def test_speed_is_a_multiple_or_max() -> None:
    assert parse_speed("1") == 1.0
    assert parse_speed("2.5") == 2.5
    assert parse_speed("MAX") is None
    for bad in ("0", "-1", "fast", "inf", "nan"):
        with pytest.raises(ConfigError, match="speed"):
            parse_speed(bad)


def test_the_schedule_is_absolute_and_scaled() -> None:
    times = [1_000_000, 1_020_000, 1_040_000, 1_100_000]
    assert list(due_offsets(times, 1.0)) == pytest.approx([0, 0.02, 0.04, 0.1])
    assert list(due_offsets(times, 4.0)) == pytest.approx([0, 0.005, 0.01, 0.025])
    assert list(due_offsets(times, None)) == [0, 0, 0, 0]
    # a time that steps back is due with the frame ahead of it, never before
    assert list(due_offsets([0, 50_000, 30_000, 60_000], 1.0)) == pytest.approx(
        [0, 0.05, 0.05, 0.06]
    )
    assert list(due_offsets([], 1.0)) == []


def test_partitions_merge_by_time_and_keep_their_own_order() -> None:
    order = TimeOrder([0, 1])
    order.add(recorded(0, 100, 0))
    order.add(recorded(1, 300, 0))
    assert list(order.ready()) == []  # partition 1 may still hold something earlier
    order.add(recorded(2, 200, 1))
    assert [r.offset for r in order.ready()] == [0, 2]  # 300 waits: partition 1 may have 250
    order.caught_up(1)
    assert [r.offset for r in order.ready()] == [1]
    order.add(recorded(3, 50, 1))  # a late timestamp still goes after what already left
    order.add(recorded(4, 40, 0))
    order.add(recorded(5, 500, 0))
    assert [r.offset for r in order.ready()] == [4, 3]
    order.finish(1)
    assert not order.done
    assert [r.offset for r in order.ready()] == [5]
    order.finish(0)
    assert order.done


def test_drain_gives_everything_in_time_order() -> None:
    order = TimeOrder([0, 1, 2])
    for seq, (ts, p) in enumerate([(10, 0), (30, 0), (20, 1), (25, 1), (5, 2)]):
        order.add(recorded(seq, ts, p))
    assert [r.kafka_timestamp_ms for r in order.drain()] == [5, 10, 20, 25, 30]


def test_a_replayed_frame_is_captured_now_and_keeps_the_rest() -> None:
    frame = make_frame(4)
    rec = RecordedFrame(5, b"sensor-0", 0, 9, frame_datum(encode_frame(frame)))
    out = decode_frame(replay_message(rec, captured_us=42, sent_us=43))
    assert (out.frame_id, out.sensor_id, out.seq, out.label) == (
        frame.frame_id,
        frame.sensor_id,
        frame.seq,
        frame.label,
    )
    assert out.capture_us == 42
    assert out.trace == (TraceStamp(HOP, 42, 43),)
    assert np.array_equal(out.tensor.array, frame.tensor.array)
    renamed = decode_frame(replay_message(rec, captured_us=42, sent_us=43, new_id="new:sensor-0:4"))
    assert renamed.frame_id == "new:sensor-0:4"
    assert rec.frame["capture_us"] == frame.capture_us  # the recording is not changed


def test_frames_must_fit_the_model_and_the_topic(tmp_path: Path) -> None:
    path = tmp_path / "digits.avro"
    write_recording(path, META, [recorded(i, i) for i in range(3)])
    info = scan_recording(path)
    check_fits(info, (28, 28), 1024 * 1024, "mnist_cnn")
    with pytest.raises(ConfigError, match=r"shape \[28, 28\], but resnet18 takes \[224, 224, 3\]"):
        check_fits(info, (224, 224, 3), 1024 * 1024, "resnet18")
    with pytest.raises(ConfigError, match="frames of up to 8"):
        check_fits(info, (28, 28), 1024, "mnist_cnn")
