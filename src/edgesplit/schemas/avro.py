"""The .avsc files, parsed, and Avro single-object framing.

Every message is `C3 01` + the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's canonical form + the Avro binary body (the Avro spec's single-object
encoding). The marker and fingerprint tell a Frame from an Activation from garbage
before a byte of the body is trusted. fastavro parses the schemas (for fingerprints,
container files and the conformance tests); the hot path is in codec.py.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from edgesplit.errors import DecodeError, EncodeError

MARKER = b"\xc3\x01"
HEADER_LEN = 10
NAMED = ("Tensor", "TraceStamp")
RECORDS = ("Frame", "Activation", "Result", "StageMetrics")


@dataclass(frozen=True)
class RecordSchema:
    name: str
    parsed: Any  # fastavro's parsed schema (named types resolved)
    header: bytes  # marker + fingerprint
    canonical: str  # Parsing Canonical Form


@cache
def schemas() -> dict[str, RecordSchema]:
    """Load and parse every record schema shipped in the package."""
    named: dict[str, Any] = {}
    folder = resources.files("edgesplit.schemas")
    for name in NAMED:
        fastavro.parse_schema(json.loads((folder / f"{name}.avsc").read_text()), named)
    out: dict[str, RecordSchema] = {}
    for name in RECORDS:
        raw = json.loads((folder / f"{name}.avsc").read_text())
        parsed = fastavro.parse_schema(raw, dict(named))
        canonical = to_parsing_canonical_form(fastavro.parse_schema(raw, dict(named), expand=True))
        fp = int(fingerprint(canonical, "CRC-64-AVRO"), 16)
        out[name] = RecordSchema(name, parsed, MARKER + fp.to_bytes(8, "little"), canonical)
    return out


def schema(name: str) -> RecordSchema:
    return schemas()[name]


def write_datum(kind: str, datum: dict[str, Any]) -> bytes:
    """A framed message through fastavro: for low-rate records (metrics); the data-plane
    records use the hand-written codec."""
    rs = schema(kind)
    buf = io.BytesIO()
    buf.write(rs.header)
    try:
        fastavro.schemaless_writer(buf, rs.parsed, datum)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise EncodeError(f"cannot write {kind}: {exc}") from exc
    return buf.getvalue()


def read_datum(kind: str, data: bytes) -> dict[str, Any]:
    """Decode a framed message through fastavro; DecodeError on anything off."""
    rs = schema(kind)
    if not data:
        raise DecodeError("empty message", field="message", raw=b"")
    if bytes(data[:HEADER_LEN]) != rs.header:
        found = kind_of(data)
        what = f"a {found} record" if found else "not a record of ours"
        raise DecodeError(f"expected a {kind} record, got {what}", field="header", raw=data)
    buf = io.BytesIO(data)
    buf.seek(HEADER_LEN)
    try:
        datum: Any = fastavro.schemaless_reader(buf, rs.parsed, None)
    except Exception as exc:  # fastavro raises many types on garbage
        raise DecodeError(
            f"malformed {kind} ({type(exc).__name__}: {exc})", field="body", raw=data
        ) from exc
    if buf.tell() != len(data):
        raise DecodeError(f"trailing bytes after the {kind} record", field="body", raw=data)
    return dict(datum)


def kind_of(data: bytes) -> str | None:
    """Which record a message holds, from its header; None if it is not one of ours."""
    head = bytes(data[:HEADER_LEN])
    for rs in schemas().values():
        if head == rs.header:
            return rs.name
    return None
