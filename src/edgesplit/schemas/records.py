"""The records that travel on the data plane, as plain frozen dataclasses.

Tensors are numpy arrays here; the codec turns them into Avro `Tensor` records with the
encoding of the caller's choice. Times are integer microseconds since the Unix epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, eq=False)
class Tensor:
    name: str
    array: np.ndarray[Any, Any]


@dataclass(frozen=True)
class TraceStamp:
    """One hop: `producer`, `stage-0`, ... with its arrival and departure times."""

    hop: str
    received_us: int
    sent_us: int


@dataclass(frozen=True, eq=False)
class Frame:
    """A sensor reading as the sensor gives it."""

    frame_id: str
    sensor_id: str
    seq: int
    capture_us: int
    tensor: Tensor
    label: int | None = None
    trace: tuple[TraceStamp, ...] = ()


@dataclass(frozen=True, eq=False)
class Activation:
    """The tensors crossing one cut for one frame."""

    frame_id: str
    sensor_id: str
    seq: int
    capture_us: int
    plan_version: int
    stage: int
    tensors: tuple[Tensor, ...]
    label: int | None = None
    trace: tuple[TraceStamp, ...] = field(default=())


@dataclass(frozen=True)
class Prediction:
    class_index: int
    score: float


@dataclass(frozen=True, eq=False)
class Result:
    """The last stage's answer for one frame."""

    frame_id: str
    sensor_id: str
    seq: int
    capture_us: int
    plan_version: int
    stage: int
    topk: tuple[Prediction, ...] = ()
    output: Tensor | None = None
    label: int | None = None
    trace: tuple[TraceStamp, ...] = ()
