"""Garbage in, a typed DecodeError out: never another exception, never a hang."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesplit.errors import DecodeError, EncodeError
from edgesplit.schemas import (
    Activation,
    Frame,
    Tensor,
    TensorEncoding,
    decode_activation,
    decode_frame,
    decode_result,
    encode_activation,
    encode_frame,
    wire,
)
from edgesplit.schemas.avro import schema
from tests.schemas.strategies import activations, arrays

DECODERS = [decode_frame, decode_activation, decode_result]


def _decode_or_typed_error(decoder, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        decoder(data)
    except DecodeError as exc:
        assert exc.raw == bytes(data)
        assert exc.field


@given(st.binary(max_size=4096), st.sampled_from(DECODERS))
def test_random_bytes(data: bytes, decoder) -> None:  # type: ignore[no-untyped-def]
    _decode_or_typed_error(decoder, data)


@given(st.binary(max_size=512))
def test_random_body_behind_a_valid_header(body: bytes) -> None:
    _decode_or_typed_error(decode_activation, schema("Activation").header + body)


@given(activations(array=arrays(finite=True)), st.data())
def test_truncated_records(act: Activation, data: st.DataObject) -> None:
    full = encode_activation(act, TensorEncoding.parse("int8+zstd"))
    cut = data.draw(st.integers(0, len(full) - 1))
    with pytest.raises(DecodeError):
        decode_activation(full[:cut])


@given(activations(), st.data())
def test_flipped_bytes(act: Activation, data: st.DataObject) -> None:
    full = bytearray(encode_activation(act, TensorEncoding.parse("raw+lz4")))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(full) - 1))
        full[i] = data.draw(st.integers(0, 255))
    _decode_or_typed_error(decode_activation, bytes(full))


def _tensor_record(
    name: str,
    dtype: str,
    shape: list[int],
    encoding: int,
    compression: int,
    scale: float | None,
    zero_point: int | None,
    data: bytes,
) -> bytes:
    parts = [wire.string(name), wire.string(dtype)]
    if shape:
        parts += [wire.long(len(shape)), *(wire.long(d) for d in shape)]
    parts += [wire.long(0), wire.long(encoding), wire.long(compression)]
    parts.append(wire.long(0) if scale is None else wire.long(1) + wire.double(scale))
    parts.append(wire.long(0) if zero_point is None else wire.long(1) + wire.long(zero_point))
    parts += [wire.long(len(data)), data]
    return b"".join(parts)


def _frame_with(tensor: bytes) -> bytes:
    head = wire.string("f") + wire.string("s") + wire.long(1) + wire.long(2) + wire.long(0)
    return schema("Frame").header + head + tensor + wire.long(0)


@pytest.mark.parametrize(
    ("tensor", "field", "reason"),
    [
        (
            _tensor_record("x", "float32", [2, 3], 0, 0, None, None, bytes(20)),
            "tensor.data",
            "20 bytes do not hold shape",
        ),
        (
            _tensor_record("x", "complex64", [1], 0, 0, None, None, bytes(8)),
            "tensor.dtype",
            "unknown dtype",
        ),
        (
            _tensor_record("x", "float32", [-1, 2], 0, 0, None, None, b""),
            "tensor.shape",
            "negative dimension",
        ),
        (
            _tensor_record("x", "float32", [4], 2, 0, None, None, bytes(4)),
            "tensor.scale",
            "needs scale and zero_point",
        ),
        (
            _tensor_record("x", "float32", [4], 2, 0, 0.0, 0, bytes(4)),
            "tensor.scale",
            "positive finite",
        ),
        (
            _tensor_record("x", "float32", [4], 2, 0, 0.1, 300, bytes(4)),
            "tensor.zero_point",
            "outside",
        ),
        (
            _tensor_record("x", "uint8", [4], 1, 0, None, None, bytes(8)),
            "tensor.encoding",
            "applies to float tensors",
        ),
        (
            _tensor_record("x", "float32", [4], 5, 0, None, None, bytes(16)),
            "tensor.encoding",
            "out of range",
        ),
        (
            _tensor_record("x", "float32", [4], 0, 1, None, None, b"not zstd at all"),
            "tensor.data",
            "ZSTD data does not decompress",
        ),
        (
            _tensor_record("x", "float32", [1] * 9, 0, 0, None, None, bytes(4)),
            "tensor.shape",
            "more than 8 dimensions",
        ),
    ],
)
def test_bad_tensors_name_the_field(tensor: bytes, field: str, reason: str) -> None:
    data = _frame_with(tensor)
    with pytest.raises(DecodeError, match=reason) as info:
        decode_frame(data)
    assert info.value.field == field
    assert info.value.raw == data


def test_decompression_bomb_is_refused_without_allocating_it() -> None:
    import zstandard  # noqa: PLC0415

    bomb = zstandard.ZstdCompressor().compress(bytes(256 * 1024 * 1024))  # 256 MiB of zeros
    data = _frame_with(_tensor_record("x", "float32", [4], 0, 1, None, None, bomb))
    with pytest.raises(DecodeError, match="do not hold shape") as info:
        decode_frame(data)
    assert info.value.field == "tensor.data"


def test_wrong_record_kind_and_empty_message() -> None:
    frame = encode_frame(Frame("f", "s", 0, 0, Tensor("x", np.zeros(3, np.uint8))))
    with pytest.raises(DecodeError, match="expected a Activation record, got a Frame") as info:
        decode_activation(frame)
    assert info.value.field == "header"
    with pytest.raises(DecodeError, match="empty message"):
        decode_activation(b"")
    with pytest.raises(DecodeError, match="trailing bytes"):
        decode_frame(frame + b"\x00")


def test_unsupported_arrays_are_encode_errors() -> None:
    with pytest.raises(EncodeError, match="not supported"):
        encode_activation(Activation("f", "s", 0, 0, 1, 0, (Tensor("x", np.zeros(2, "c8")),)))
    with pytest.raises(EncodeError, match="finite"):
        encode_activation(
            Activation("f", "s", 0, 0, 1, 0, (Tensor("x", np.array([np.inf])),)),
            TensorEncoding.parse("int8"),
        )
    with pytest.raises(EncodeError, match="unknown tensor encoding"):
        TensorEncoding.parse("int4")
    with pytest.raises(EncodeError, match="does not fit"):
        encode_activation(Activation("f", "s", 0, 0, 2**40, 0, ()))


def test_bad_jpeg_tensors_name_the_field() -> None:
    from edgesplit.schemas import jpeg  # noqa: PLC0415

    small = jpeg.encode(np.zeros((8, 8, 3), np.uint8), 90)
    wrong_size = _frame_with(_tensor_record("x", "uint8", [16, 16, 3], 3, 0, None, None, small))
    with pytest.raises(DecodeError, match="JPEG is 8x8, shape says 16x16") as info:
        decode_frame(wrong_size)
    assert info.value.field == "tensor.data"
    garbage = _frame_with(_tensor_record("x", "uint8", [8, 8, 3], 3, 0, None, None, b"\xff\xd8no"))
    with pytest.raises(DecodeError, match="not a readable JPEG"):
        decode_frame(garbage)
    floats = _frame_with(_tensor_record("x", "float32", [8, 8, 3], 3, 0, None, None, small))
    with pytest.raises(DecodeError, match="JPEG holds uint8 images"):
        decode_frame(floats)
