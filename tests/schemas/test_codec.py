"""Round trips of every record kind, and byte-for-byte agreement with fastavro."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.schemas import (
    Activation,
    Frame,
    Result,
    Tensor,
    TensorEncoding,
    decode_activation,
    decode_frame,
    decode_result,
    encode_activation,
    encode_frame,
    encode_result,
)
from edgesplit.schemas.avro import HEADER_LEN, schema
from tests.schemas.strategies import activations, arrays, float_arrays, frames, results

ENCODINGS = st.sampled_from(
    ["raw", "fp16", "int8", "raw+zstd", "raw+lz4", "int8+zstd", "fp16+lz4"]
).map(TensorEncoding.parse)


def same_tensor(a: Tensor, b: Tensor) -> None:
    assert a.name == b.name
    assert a.array.dtype == b.array.dtype
    assert a.array.shape == b.array.shape
    assert a.array.tobytes() == b.array.tobytes()  # bit-exact, NaN payloads included


def fastavro_body(kind: str, data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data[HEADER_LEN:]), schema(kind).parsed, None)


def fastavro_bytes(kind: str, datum: Any) -> bytes:
    buf = io.BytesIO()
    buf.write(schema(kind).header)
    fastavro.schemaless_writer(buf, schema(kind).parsed, datum)
    return buf.getvalue()


@given(frames())
def test_frame_round_trip_raw_is_bit_exact(frame: Frame) -> None:
    back = decode_frame(encode_frame(frame))
    assert (back.frame_id, back.sensor_id, back.seq, back.capture_us, back.label, back.trace) == (
        frame.frame_id,
        frame.sensor_id,
        frame.seq,
        frame.capture_us,
        frame.label,
        frame.trace,
    )
    same_tensor(back.tensor, frame.tensor)


@given(activations())
def test_activation_round_trip_raw_is_bit_exact(act: Activation) -> None:
    back = decode_activation(encode_activation(act))
    assert (back.plan_version, back.stage, back.label, back.trace) == (
        act.plan_version,
        act.stage,
        act.label,
        act.trace,
    )
    assert len(back.tensors) == len(act.tensors)
    for a, b in zip(back.tensors, act.tensors, strict=True):
        same_tensor(a, b)


@given(results())
def test_result_round_trip(res: Result) -> None:
    back = decode_result(encode_result(res))
    assert back.topk == res.topk
    assert back.trace == res.trace
    assert (back.output is None) == (res.output is None)
    if res.output is not None and back.output is not None:
        same_tensor(back.output, res.output)


@given(activations(array=float_arrays), ENCODINGS)
def test_lossy_encodings_stay_within_their_error_bound(
    act: Activation, enc: TensorEncoding
) -> None:
    back = decode_activation(encode_activation(act, enc))
    for a, b in zip(act.tensors, back.tensors, strict=True):
        assert b.array.dtype == a.array.dtype and b.array.shape == a.array.shape
        if a.array.size == 0:
            continue
        x = a.array.astype(np.float64)
        err = np.abs(b.array.astype(np.float64) - x)
        if str(enc).startswith("int8"):
            span = max(x.max(), 0) - min(x.min(), 0)
            assert err.max() <= span / 255 * 0.5 + 1e-3 * max(1.0, span)
        elif str(enc).startswith("fp16"):
            assert np.all(err <= np.abs(x) * 2**-11 + 2**-24 + 1e-12)
        else:
            assert err.max() == 0


@given(
    st.one_of(
        frames().map(lambda r: ("Frame", encode_frame(r))),
        activations().map(lambda r: ("Activation", encode_activation(r))),
        results().map(lambda r: ("Result", encode_result(r))),
    )
)
def test_bytes_are_exactly_what_fastavro_writes(case: tuple[str, bytes]) -> None:
    """Any Avro implementation reads our messages, and writes the very same bytes."""
    kind, data = case
    datum = fastavro_body(kind, data)
    assert fastavro_bytes(kind, datum) == data


@given(activations(array=arrays(finite=True)), ENCODINGS)
def test_fastavro_written_messages_decode(act: Activation, enc: TensorEncoding) -> None:
    data = encode_activation(act, enc)
    rewritten = fastavro_bytes("Activation", fastavro_body("Activation", data))
    back = decode_activation(rewritten)
    assert [t.name for t in back.tensors] == [t.name for t in act.tensors]


def test_decoded_raw_tensors_are_read_only_views() -> None:
    """Decoding copies nothing: the array is a view of the message, so it is read-only."""
    act = Activation("f", "s", 0, 0, 1, 0, (Tensor("x", np.arange(12, dtype=np.float32)),))
    back = decode_activation(encode_activation(act))
    assert not back.tensors[0].array.flags.writeable


def test_int_and_bool_tensors_ignore_lossy_encodings() -> None:
    frame = Frame("f", "s", 0, 0, Tensor("img", np.arange(256, dtype=np.uint8).reshape(16, 16)))
    data = encode_frame(frame, TensorEncoding.parse("int8"))
    assert decode_frame(data).tensor.array.tobytes() == frame.tensor.array.tobytes()


def test_int8_is_about_four_times_smaller_than_raw() -> None:
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((1, 32, 56, 56), dtype=np.float32), 0)
    act = Activation("f", "s", 0, 0, 1, 0, (Tensor("x", x),))
    raw = len(encode_activation(act))
    int8 = len(encode_activation(act, TensorEncoding.parse("int8")))
    assert 3.9 < raw / int8 <= 4.0


def test_big_endian_input_arrives_with_the_same_values() -> None:
    x = np.arange(10, dtype=">f4")
    back = decode_activation(encode_activation(Activation("f", "s", 0, 0, 1, 0, (Tensor("x", x),))))
    np.testing.assert_array_equal(back.tensors[0].array, x)


def test_int8_of_a_subnormal_range_stays_finite() -> None:
    x = np.array([0.0, 1e-45, 3e-45], dtype=np.float32)
    act = Activation("f", "s", 0, 0, 1, 0, (Tensor("x", x),))
    back = decode_activation(encode_activation(act, TensorEncoding.parse("int8")))
    assert np.all(np.isfinite(back.tensors[0].array))
    assert np.abs(back.tensors[0].array - x).max() < 1e-29


def test_jpeg_frames_are_smaller_and_close() -> None:
    rng = np.random.default_rng(0)
    # a smooth image (JPEG's home ground): gradients plus a little noise
    y, x = np.mgrid[0:224, 0:224]
    img = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.float32)
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    frame = Frame("f", "s", 0, 0, Tensor("frame", img))
    raw, jpg = encode_frame(frame), encode_frame(frame, TensorEncoding.parse("jpeg"))
    back = decode_frame(jpg).tensor.array
    assert back.shape == img.shape and back.dtype == np.uint8
    assert len(jpg) < len(raw) / 5
    assert np.abs(back.astype(int) - img).mean() < 3


def test_jpeg_applies_to_images_only() -> None:
    x = np.arange(12, dtype=np.float32)
    act = Activation("f", "s", 0, 0, 1, 0, (Tensor("x", x),))
    back = decode_activation(encode_activation(act, TensorEncoding.parse("jpeg")))
    assert back.tensors[0].array.tobytes() == x.tobytes()  # not an image: travels raw
    gray = np.full((28, 28), 77, np.uint8)
    back_gray = decode_frame(
        encode_frame(Frame("f", "s", 0, 0, Tensor("d", gray)), TensorEncoding.parse("jpeg"))
    )
    assert back_gray.tensor.array.shape == (28, 28)
