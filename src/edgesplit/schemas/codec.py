"""Records <-> bytes. One encode/decode pair per record kind.

A message is Avro single-object encoded: `C3 01`, the schema's 8-byte fingerprint,
then the Avro binary body. The bodies written here are byte-for-byte what any Avro
library writes for the .avsc files next to this module (tests hold that against
fastavro); they are hand-written because fastavro costs ~20 us per record whatever
its size, and because decoding here copies no tensor data.

`encode_*` takes the tensor encoding to use (the plan's choice for a cut); `decode_*`
validates everything and raises DecodeError, which keeps the raw message (for the
dead-letter topic) and names the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from edgesplit.errors import DecodeError, EncodeError
from edgesplit.schemas import wire
from edgesplit.schemas.avro import HEADER_LEN, MARKER, kind_of, schema
from edgesplit.schemas.encoding import (
    RAW,
    Compression,
    Encoding,
    Invalid,
    TensorEncoding,
    pack,
    unpack,
)
from edgesplit.schemas.records import Activation, Frame, Prediction, Result, Tensor, TraceStamp

MAX_TENSORS = 64
MAX_TRACE = 64
_ENCODINGS = tuple(Encoding)
_COMPRESSIONS = tuple(Compression)
_HEADERS = {name: schema(name).header for name in ("Frame", "Activation", "Result")}

# --- writing -----------------------------------------------------------------------


def _w_tensor(parts: _Parts, t: Tensor, enc: TensorEncoding) -> None:
    if not isinstance(t, Tensor):
        raise EncodeError(f"expected a Tensor, got {type(t).__name__}")
    p = pack(t.name, t.array, enc)
    parts.append(wire.string(t.name))
    parts.append(wire.string(p.dtype))
    if p.shape:
        parts.append(wire.long(len(p.shape)))
        parts.extend(wire.long(d) for d in p.shape)
    parts.append(wire.NULL_BRANCH)  # end of the shape array
    parts.append(wire.long(p.encoding))
    parts.append(wire.long(p.compression))
    if p.scale is None:
        parts.append(wire.NULL_BRANCH)
    else:
        parts.append(wire.VALUE_BRANCH + wire.double(p.scale))
    if p.zero_point is None:
        parts.append(wire.NULL_BRANCH)
    else:
        parts.append(wire.VALUE_BRANCH + wire.int32(p.zero_point))
    parts.append(wire.long(len(p.data)))
    parts.append(p.data)


def _w_head(parts: _Parts, r: Frame | Activation | Result) -> None:
    """frame_id, sensor_id, seq, capture_us, label: the fields every record starts with."""
    parts.append(wire.string(r.frame_id))
    parts.append(wire.string(r.sensor_id))
    parts.append(wire.long(r.seq))
    parts.append(wire.long(r.capture_us))
    if r.label is None:
        parts.append(wire.NULL_BRANCH)
    else:
        parts.append(wire.VALUE_BRANCH + wire.int32(r.label))


def _w_trace(parts: _Parts, trace: tuple[TraceStamp, ...]) -> None:
    if trace:
        parts.append(wire.long(len(trace)))
        for t in trace:
            parts.append(wire.string(t.hop))
            parts.append(wire.long(t.received_us))
            parts.append(wire.long(t.sent_us))
    parts.append(wire.NULL_BRANCH)


_Parts = list[bytes | memoryview]
_Rec = TypeVar("_Rec", Frame, Activation, Result)


def _encode(
    kind: str,
    body: Callable[[_Parts, _Rec, TensorEncoding], None],
    record: _Rec,
    enc: TensorEncoding,
) -> bytes:
    parts: _Parts = [_HEADERS[kind]]
    try:
        body(parts, record, enc)
    except (TypeError, AttributeError, OverflowError, UnicodeEncodeError) as exc:
        raise EncodeError(f"cannot write {kind}: {exc}") from exc
    return b"".join(parts)


def _frame_parts(parts: _Parts, frame: Frame, enc: TensorEncoding) -> None:
    _w_head(parts, frame)
    _w_tensor(parts, frame.tensor, enc)
    _w_trace(parts, frame.trace)


def _activation_parts(parts: _Parts, act: Activation, enc: TensorEncoding) -> None:
    _w_head(parts, act)
    parts.append(wire.int32(act.plan_version))
    parts.append(wire.int32(act.stage))
    if act.tensors:
        parts.append(wire.long(len(act.tensors)))
        for t in act.tensors:
            _w_tensor(parts, t, enc)
    parts.append(wire.NULL_BRANCH)
    _w_trace(parts, act.trace)


def _result_parts(parts: _Parts, res: Result, enc: TensorEncoding) -> None:
    _w_head(parts, res)
    parts.append(wire.int32(res.plan_version))
    parts.append(wire.int32(res.stage))
    if res.topk:
        parts.append(wire.long(len(res.topk)))
        for p in res.topk:
            parts.append(wire.int32(p.class_index))
            parts.append(wire.float32(p.score))
    parts.append(wire.NULL_BRANCH)
    if res.output is None:
        parts.append(wire.NULL_BRANCH)
    else:
        parts.append(wire.VALUE_BRANCH)
        _w_tensor(parts, res.output, enc)
    _w_trace(parts, res.trace)


def encode_frame(frame: Frame, enc: TensorEncoding = RAW) -> bytes:
    return _encode("Frame", _frame_parts, frame, enc)


def encode_activation(act: Activation, enc: TensorEncoding = RAW) -> bytes:
    return _encode("Activation", _activation_parts, act, enc)


def encode_result(res: Result, enc: TensorEncoding = RAW) -> bytes:
    return _encode("Result", _result_parts, res, enc)


# --- reading -----------------------------------------------------------------------


def _reader(data: Any, kind: str) -> wire.Reader:
    if not isinstance(data, bytes):
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        else:
            raise DecodeError(
                f"expected bytes, got {type(data).__name__}", field="message", raw=b""
            )
    if not data:
        raise DecodeError("empty message", field="message", raw=data)
    if data[:2] != MARKER or len(data) < HEADER_LEN:
        raise DecodeError(
            "not an Avro single-object message (bad marker)", field="header", raw=data
        )
    if data[:HEADER_LEN] != _HEADERS[kind]:
        found = kind_of(data)
        what = f"a {found} record" if found else "an unknown schema fingerprint"
        raise DecodeError(f"expected a {kind} record, got {what}", field="header", raw=data)
    return wire.Reader(data, HEADER_LEN)


def _r_tensor(r: wire.Reader, at: str) -> Tensor:
    r.field = f"{at}.name"
    name = r.string()
    r.field = f"{at}.dtype"
    dtype = r.string()
    r.field = f"{at}.shape"
    shape: list[int] = []
    n = r.block()
    while n:
        if len(shape) + n > 8:
            raise wire.Malformed(f"more than 8 dimensions ({len(shape) + n})")
        shape.extend(r.long() for _ in range(n))
        n = r.block()
    r.field = f"{at}.encoding"
    encoding = _ENCODINGS[r.branch(len(_ENCODINGS))]
    r.field = f"{at}.compression"
    compression = _COMPRESSIONS[r.branch(3)]
    r.field = f"{at}.scale"
    scale = r.double() if r.branch(2) else None
    r.field = f"{at}.zero_point"
    zero_point = r.int32() if r.branch(2) else None
    r.field = f"{at}.data"
    start, stop = r.span()
    try:
        array = unpack(dtype, shape, encoding, compression, scale, zero_point, r.buf, start, stop)
    except Invalid as exc:
        r.field = f"{at}.{exc.field}"
        raise wire.Malformed(exc.reason) from exc
    return Tensor(name, array)


def _r_head(r: wire.Reader) -> tuple[str, str, int, int, int | None]:
    r.field = "frame_id"
    frame_id = r.string()
    r.field = "sensor_id"
    sensor_id = r.string()
    r.field = "seq"
    seq = r.long()
    r.field = "capture_us"
    capture_us = r.long()
    r.field = "label"
    label = r.int32() if r.branch(2) else None
    return frame_id, sensor_id, seq, capture_us, label


def _r_trace(r: wire.Reader) -> tuple[TraceStamp, ...]:
    r.field = "trace"
    out: list[TraceStamp] = []
    n = r.block()
    while n:
        if len(out) + n > MAX_TRACE:
            raise wire.Malformed(f"more than {MAX_TRACE} trace stamps")
        for _ in range(n):
            out.append(TraceStamp(r.string(), r.long(), r.long()))
        n = r.block()
    return tuple(out)


def _end(r: wire.Reader, kind: str) -> None:
    if r.pos != r.end:
        r.field = "body"
        raise wire.Malformed(f"{r.end - r.pos} trailing bytes after the {kind} record")


_R = TypeVar("_R")


def _decode(data: Any, kind: str, body: Callable[[wire.Reader], _R]) -> _R:
    r = _reader(data, kind)
    try:
        out = body(r)
        _end(r, kind)
    except wire.Malformed as exc:
        raise DecodeError(str(exc), field=r.field, raw=r.buf) from exc
    except IndexError as exc:
        raise DecodeError(
            "message ends in the middle of this field", field=r.field, raw=r.buf
        ) from exc
    return out


def _frame_body(r: wire.Reader) -> Frame:
    frame_id, sensor_id, seq, capture_us, label = _r_head(r)
    tensor = _r_tensor(r, "tensor")
    return Frame(frame_id, sensor_id, seq, capture_us, tensor, label, _r_trace(r))


def _activation_body(r: wire.Reader) -> Activation:
    frame_id, sensor_id, seq, capture_us, label = _r_head(r)
    r.field = "plan_version"
    plan_version = r.int32()
    r.field = "stage"
    stage = r.int32()
    tensors: list[Tensor] = []
    r.field = "tensors"
    n = r.block()
    while n:
        if len(tensors) + n > MAX_TENSORS:
            raise wire.Malformed(f"more than {MAX_TENSORS} tensors")
        for _ in range(n):
            tensors.append(_r_tensor(r, f"tensors[{len(tensors)}]"))
        r.field = "tensors"
        n = r.block()
    if len({t.name for t in tensors}) != len(tensors):
        raise wire.Malformed(f"duplicate tensor names {[t.name for t in tensors]}")
    trace = _r_trace(r)
    return Activation(
        frame_id, sensor_id, seq, capture_us, plan_version, stage, tuple(tensors), label, trace
    )


def _result_body(r: wire.Reader) -> Result:
    frame_id, sensor_id, seq, capture_us, label = _r_head(r)
    r.field = "plan_version"
    plan_version = r.int32()
    r.field = "stage"
    stage = r.int32()
    r.field = "topk"
    topk: list[Prediction] = []
    n = r.block()
    while n:
        for _ in range(n):
            topk.append(Prediction(r.int32(), r.float32()))
        n = r.block()
    r.field = "output"
    output = _r_tensor(r, "output") if r.branch(2) else None
    trace = _r_trace(r)
    return Result(
        frame_id, sensor_id, seq, capture_us, plan_version, stage, tuple(topk), output, label, trace
    )


def decode_frame(data: bytes) -> Frame:
    return _decode(data, "Frame", _frame_body)


def decode_activation(data: bytes) -> Activation:
    return _decode(data, "Activation", _activation_body)


def decode_result(data: bytes) -> Result:
    return _decode(data, "Result", _result_body)
