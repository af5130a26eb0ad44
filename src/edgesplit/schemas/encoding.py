"""Tensor encodings: how a numpy array is stored in a `Tensor` record's data field.

RAW is bit-exact (little endian). FP16 and INT8 (affine, per tensor) shrink float
tensors 2x and 4x; JPEG shrinks uint8 camera frames about 8x; any other tensor travels
RAW. ZSTD or LZ4 may be applied on top of any encoding. `unpack` validates everything and
raises `Invalid` naming the field at fault; it never trusts a length it has not checked.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import lz4.frame
import numpy as np
import zstandard

from edgesplit.errors import EncodeError
from edgesplit.schemas import jpeg

MAX_NDIM = 8
DTYPES: frozenset[str] = frozenset(
    {"bool", "uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64"}
)
_FLOATS = frozenset({"float16", "float32", "float64"})
# Stored element type per dtype name: little-endian.
_STORED = {name: np.dtype(name).newbyteorder("<") for name in DTYPES}
# dtype.name is a slow Python property in numpy 2; dtype.num is a C field. int64 has two
# nums (C long and long long), so map every type code numpy knows onto our names.
_NAME_BY_NUM = {
    np.dtype(code).num: np.dtype(code).name
    for code in np.typecodes["All"]
    if np.dtype(code).name in DTYPES
}


def dtype_name(dtype: np.dtype[Any]) -> str | None:
    """Our name for a numpy dtype (any byte order), or None if it is not supported."""
    return _NAME_BY_NUM.get(dtype.num)


_FP16 = np.dtype("<f2")
_MIN_SCALE = 1e-30
_INT8 = np.dtype(np.int8)


class Encoding(enum.IntEnum):
    """Symbol order is the Avro enum's (RAW, FP16, INT8): the value is the wire index."""

    RAW = 0
    FP16 = 1
    INT8 = 2
    JPEG = 3


class Compression(enum.IntEnum):
    """Symbol order is the Avro enum's (NONE, ZSTD, LZ4)."""

    NONE = 0
    ZSTD = 1
    LZ4 = 2


@dataclass(frozen=True)
class TensorEncoding:
    """How to put tensors on the wire: an encoding, optionally compressed."""

    encoding: Encoding = Encoding.RAW
    compression: Compression = Compression.NONE
    level: int = 1  # zstd level; fast levels suit activations
    quality: int = 90  # JPEG quality

    @classmethod
    def parse(cls, text: str) -> TensorEncoding:
        """`raw`, `fp16`, `int8` or `jpeg`, optionally `+zstd` or `+lz4` (e.g. `int8+zstd`)."""
        base, _, comp = text.strip().upper().partition("+")
        try:
            return cls(Encoding[base], Compression[comp or "NONE"])
        except KeyError:
            raise EncodeError(
                f"unknown tensor encoding {text!r}: use raw, fp16, int8 or jpeg, optionally with "
                "+zstd or +lz4"
            ) from None

    def __str__(self) -> str:
        name = self.encoding.name.lower()
        if self.compression is Compression.NONE:
            return name
        return f"{name}+{self.compression.name.lower()}"

    def applied_to(self, dtype: str, shape: tuple[int, ...]) -> Encoding:
        """The encoding really used: FP16/INT8 apply to floats, JPEG to uint8 images."""
        if self.encoding is Encoding.JPEG:
            return Encoding.JPEG if jpeg.is_image(dtype, shape) else Encoding.RAW
        return self.encoding if dtype in _FLOATS else Encoding.RAW


RAW = TensorEncoding()


class Packed(NamedTuple):
    """A tensor in its stored form: what the `Tensor` record carries."""

    dtype: str
    shape: tuple[int, ...]
    encoding: Encoding
    compression: Compression
    scale: float | None
    zero_point: int | None
    data: bytes | memoryview


class Invalid(ValueError):  # noqa: N818 - internal; the codec re-raises it as DecodeError
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- encode ------------------------------------------------------------------------

_zstd_c: dict[int, zstandard.ZstdCompressor] = {}


def pack(name: str, array: np.ndarray[Any, Any], enc: TensorEncoding = RAW) -> Packed:
    """Store `array` as `enc` says. RAW data is a view of the array, not a copy."""
    dtype = dtype_name(array.dtype)
    if dtype is None:
        raise EncodeError(
            f"tensor {name!r}: dtype {array.dtype} is not supported ({sorted(DTYPES)})"
        )
    if array.ndim > MAX_NDIM:
        raise EncodeError(f"tensor {name!r}: {array.ndim} dimensions (at most {MAX_NDIM})")
    encoding = enc.applied_to(dtype, array.shape)
    scale: float | None = None
    zero_point: int | None = None
    if encoding is Encoding.RAW:
        values = np.ascontiguousarray(array, dtype=_STORED[dtype])
    elif encoding is Encoding.FP16:
        with np.errstate(over="ignore"):  # beyond +-65504 saturates to inf, as a cast does
            values = np.ascontiguousarray(array, dtype=_FP16)
    elif encoding is Encoding.INT8:
        values, scale, zero_point = quantize_int8(array)
    else:
        values = np.frombuffer(jpeg.encode(array, enc.quality), np.uint8)
    data: bytes | memoryview = values.data.cast("B") if values.size else b""
    if enc.compression is Compression.ZSTD:
        compressor = _zstd_c.get(enc.level)
        if compressor is None:
            compressor = _zstd_c.setdefault(enc.level, zstandard.ZstdCompressor(level=enc.level))
        data = compressor.compress(data)
    elif enc.compression is Compression.LZ4:
        data = lz4.frame.compress(data, store_size=True)
    return Packed(dtype, array.shape, encoding, enc.compression, scale, zero_point, data)


def quantize_int8(array: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], float, int]:
    """Affine per-tensor int8. The range always holds 0, so zeros (after ReLU) stay exact."""
    x = np.asarray(array, dtype=np.float32)
    if x.size == 0:
        return np.zeros(x.shape, np.int8), 1.0, 0
    lo = min(float(x.min()), 0.0)
    hi = max(float(x.max()), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise EncodeError("int8 encoding needs finite values (found inf or nan)")
    # A zero range gets scale 1; a subnormal range a scale whose reciprocal still fits float32.
    scale = max((hi - lo) / 255.0, _MIN_SCALE) if hi > lo else 1.0
    zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
    q = x.reshape(-1) * np.float32(1.0 / scale)  # flat: 0-d inputs give arrays, not scalars
    q += np.float32(zero_point)
    np.rint(q, out=q)
    np.clip(q, -128, 127, out=q)
    return q.astype(np.int8).reshape(x.shape), scale, zero_point


# --- decode ------------------------------------------------------------------------

_zstd_d = zstandard.ZstdDecompressor()


def check_header(
    dtype: str, shape: list[int], encoding: Encoding, scale: float | None, zero_point: int | None
) -> None:
    """Validate a tensor's metadata; Invalid names the field at fault."""
    if dtype not in DTYPES:
        raise Invalid("dtype", f"unknown dtype {dtype!r}")
    if len(shape) > MAX_NDIM:
        raise Invalid("shape", f"{len(shape)} dimensions (at most {MAX_NDIM})")
    for d in shape:
        if d < 0:
            raise Invalid("shape", f"negative dimension in {shape}")
    if encoding is Encoding.JPEG:
        if not jpeg.is_image(dtype, shape):
            raise Invalid("encoding", f"JPEG holds uint8 images, not {dtype} {shape}")
    elif encoding is not Encoding.RAW and dtype not in _FLOATS:
        raise Invalid("encoding", f"{encoding.name} applies to float tensors, not {dtype}")
    if encoding is Encoding.INT8:
        if scale is None or zero_point is None:
            raise Invalid("scale", "an INT8 tensor needs scale and zero_point")
        if not (math.isfinite(scale) and scale > 0):
            raise Invalid("scale", f"INT8 scale must be a positive finite number, got {scale}")
        if not -128 <= zero_point <= 127:
            raise Invalid("zero_point", f"INT8 zero_point {zero_point} outside [-128, 127]")


def unpack(
    dtype: str,
    shape: list[int],
    encoding: Encoding,
    compression: Compression,
    scale: float | None,
    zero_point: int | None,
    buf: bytes,
    start: int,
    stop: int,
) -> np.ndarray[Any, Any]:
    """The array stored in buf[start:stop]. Uncompressed RAW data is a read-only view."""
    check_header(dtype, shape, encoding, scale, zero_point)
    if encoding is Encoding.JPEG:
        data = buf[start:stop]
        if compression is not Compression.NONE:  # pointless on a JPEG, but legal
            data = _decompress(data, compression, 64 * math.prod(shape) + 4096)
        try:
            return jpeg.decode(data, shape)
        except ValueError as exc:
            raise Invalid("data", str(exc)) from exc
    stored = (
        _STORED[dtype]
        if encoding is Encoding.RAW
        else (_FP16 if encoding is Encoding.FP16 else _INT8)
    )
    expected = math.prod(shape) * stored.itemsize
    if compression is not Compression.NONE:
        buf = _decompress(buf[start:stop], compression, expected)
        start, stop = 0, len(buf)
    if stop - start != expected:
        raise Invalid(
            "data",
            f"{stop - start} bytes do not hold shape {shape} of {stored.name} "
            f"({expected} bytes expected)",
        )
    values: np.ndarray[Any, Any] = np.ndarray(shape, stored, buf, start)
    if encoding is Encoding.FP16:
        return values.astype(dtype)
    if encoding is Encoding.INT8:
        out = values.astype(np.float32)
        out -= np.float32(zero_point)
        out *= np.float32(scale)
        return out.astype(dtype, copy=False)
    if not np.little_endian and stored.itemsize > 1:  # pragma: no cover - big-endian hosts
        return values.astype(np.dtype(dtype))
    return values


def _decompress(data: bytes, comp: Compression, expected: int) -> bytes:
    try:
        if comp is Compression.ZSTD:
            # Read at most expected + 1 bytes: a forged frame header cannot make us allocate more.
            with _zstd_d.stream_reader(data) as reader:
                out: bytes = reader.read(expected + 1)
            return out
        decomp = lz4.frame.LZ4FrameDecompressor()
        out = decomp.decompress(data, max_length=expected + 1)
        if not decomp.eof and len(out) <= expected:
            raise ValueError("truncated lz4 frame")
        return out
    except (zstandard.ZstdError, RuntimeError, ValueError, OSError) as exc:
        raise Invalid("data", f"{comp.name} data does not decompress: {exc}") from exc
