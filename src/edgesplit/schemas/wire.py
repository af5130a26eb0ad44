"""Avro binary encoding primitives for the codec's hot path.

fastavro spends ~20 us on one Activation whatever its size; these few primitives let
the codec write exactly the bytes fastavro writes (the tests check that, byte for byte,
against the .avsc files) with one copy of the tensor data on encode and none on decode.

Reader methods raise `Malformed` on anything off (and IndexError past the end, which
the codec turns into the same error); they never read outside the buffer, and every
array item consumes at least one byte, so garbage cannot loop or allocate without bound.
"""

from __future__ import annotations

import struct

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SMALL = 1024
_double = struct.Struct("<d")
_float = struct.Struct("<f")


class Malformed(ValueError):  # noqa: N818 - internal; the codec re-raises it as DecodeError
    """Bytes that do not follow the Avro binary encoding."""


# --- writing -----------------------------------------------------------------------


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL_LONGS = tuple(_varint(i) for i in range(_SMALL))
NULL_BRANCH = _SMALL_LONGS[0]  # union branch 0 (null); also the empty-array terminator
VALUE_BRANCH = _SMALL_LONGS[1]  # union branch 1


def long(n: int) -> bytes:
    """Zig-zag varint of a long (also used for int, enum indexes, counts and lengths)."""
    if 0 <= n < _SMALL:
        return _SMALL_LONGS[n]
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise OverflowError(f"{n} does not fit an Avro long")
    return _varint(n)


def int32(n: int) -> bytes:
    if not _INT32_MIN <= n <= _INT32_MAX:
        raise OverflowError(f"{n} does not fit an Avro int")
    return long(n)


def string(s: str) -> bytes:
    data = s.encode()
    return long(len(data)) + data


def double(x: float) -> bytes:
    return _double.pack(x)


def float32(x: float) -> bytes:
    return _float.pack(x)


# --- reading -----------------------------------------------------------------------


class Reader:
    """A cursor over one message. `field` names what is being read, for error messages."""

    __slots__ = ("buf", "end", "field", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)
        self.field = "body"

    def long(self) -> int:
        buf = self.buf
        pos = self.pos
        b = buf[pos]
        if b < 0x80:
            self.pos = pos + 1
            return (b >> 1) ^ -(b & 1)
        z = b & 0x7F
        shift = 7
        while True:
            pos += 1
            b = buf[pos]
            z |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                raise Malformed("varint longer than 10 bytes")
        self.pos = pos + 1
        return (z >> 1) ^ -(z & 1)

    def int32(self) -> int:
        n = self.long()
        if not _INT32_MIN <= n <= _INT32_MAX:
            raise Malformed(f"{n} does not fit an Avro int")
        return n

    def span(self) -> tuple[int, int]:
        """A bytes/string value as (start, end) offsets into the buffer: no copy."""
        n = self.long()
        start = self.pos
        stop = start + n
        if n < 0 or stop > self.end:
            raise Malformed(f"length {n} runs past the end of the message")
        self.pos = stop
        return start, stop

    def string(self) -> str:
        start, stop = self.span()
        try:
            return self.buf[start:stop].decode()
        except UnicodeDecodeError as exc:
            raise Malformed("string is not valid UTF-8") from exc

    def double(self) -> float:
        pos = self.pos
        if pos + 8 > self.end:
            raise Malformed("truncated double")
        self.pos = pos + 8
        value: float = _double.unpack_from(self.buf, pos)[0]
        return value

    def float32(self) -> float:
        pos = self.pos
        if pos + 4 > self.end:
            raise Malformed("truncated float")
        self.pos = pos + 4
        value: float = _float.unpack_from(self.buf, pos)[0]
        return value

    def branch(self, count: int) -> int:
        """A union's branch index (also an enum's symbol index) in [0, count)."""
        i = self.long()
        if not 0 <= i < count:
            raise Malformed(f"index {i} out of range [0, {count})")
        return i

    def block(self) -> int:
        """The item count of the next array block (0 ends the array)."""
        n = self.long()
        if n < 0:  # a negative count is followed by the block's size in bytes
            self.long()
            n = -n
        if n > self.end - self.pos:  # every item takes at least one byte
            raise Malformed(f"array block of {n} items in {self.end - self.pos} bytes")
        return n
