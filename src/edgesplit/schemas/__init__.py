"""Avro schemas (.avsc, shipped in the package) and the codec: records <-> bytes."""

from edgesplit.schemas.codec import (
    decode_activation,
    decode_frame,
    decode_result,
    encode_activation,
    encode_frame,
    encode_result,
)
from edgesplit.schemas.encoding import Compression, Encoding, TensorEncoding
from edgesplit.schemas.records import (
    Activation,
    Frame,
    Prediction,
    Result,
    Tensor,
    TraceStamp,
    now_us,
)

__all__ = [
    "Activation",
    "Compression",
    "Encoding",
    "Frame",
    "Prediction",
    "Result",
    "Tensor",
    "TensorEncoding",
    "TraceStamp",
    "decode_activation",
    "decode_frame",
    "decode_result",
    "encode_activation",
    "encode_frame",
    "encode_result",
    "now_us",
]
