"""The .avsc files, parsed, and Avro single-object framing.

Every message is `C3 01` + the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's canonical form + the Avro binary body (the Avro spec's single-object
encoding). The marker and fingerprint tell a Frame from an Activation from garbage
before a byte of the body is trusted. fastavro parses the schemas (for fingerprints,
container files and the conformance tests); the hot path is in codec.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MARKER = b"\xc3\x01"
HEADER_LEN = 10
NAMED = ("Tensor", "TraceStamp")
RECORDS = ("Frame", "Activation", "Result")


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


def kind_of(data: bytes) -> str | None:
    """Which record a message holds, from its header; None if it is not one of ours."""
    head = bytes(data[:HEADER_LEN])
    for rs in schemas().values():
        if head == rs.header:
            return rs.name
    return None
