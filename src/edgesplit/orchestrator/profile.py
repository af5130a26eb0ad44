"""Profiles: what a model costs on one tier, measured there. Plain data, JSON on the wire.

A profile holds, for one model on one tier (with that tier's CPUs, e.g. the 0.5-CPU
edge of the testbed):

- compute: for every single-tensor cut, the time to run the model's prefix (nodes
  before the cut) and suffix (nodes after it) as the extracted sub-graphs ONNX Runtime
  really runs (fused), per batch size; the whole model too. A middle stage between two
  cuts costs prefix(b) - prefix(a) (sub-graphs add up closely: tested). Each prefix and
  suffix three times: busy (run after run, as the pipeline's bottleneck stage runs), after
  idle (a run that starts after the stage waited a moment for its input, as every other
  stage's does: a small segment then costs 2-3x more; see profiler), and after a long
  pause (seconds, as a stage whose input comes over a thin uplink idles: on a shared VM a
  25 ms run then costs up to 4x more, `CutCost.prefix` interpolates on the wait);
- per node: ONNX Runtime's own profile of the whole model (time, op type), and FLOPs;
- bytes: each cut's bytes per frame, raw and as each encoding puts them on the wire;
- accuracy: for each cut and lossy encoding, the top-1 agreement with the unsplit model
  on real frames (encodings below the threshold are not offered by the planner);
- memory: weights + the largest activations of each prefix / suffix (an estimate);
- codec: encode and decode CPU per byte of each encoding on this tier;
- transport: the CPU a stage's loop spends around its model (Kafka clients, codec, the
  loop itself), per record and per byte;
- link: this tier's path to the broker, measured through the broker (throughput of
  records of a cut's size, round trip of a small record).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesplit.errors import ConfigError
from edgesplit.orchestrator.steal import MAX_STEAL

BUSY = ("prefix_ms", "suffix_ms")  # CutCost's timing tables of runs back to back
IDLE = ("prefix_idle_ms", "suffix_idle_ms")  # of runs after a short pause
LONG = ("prefix_long_ms", "suffix_long_ms")  # of runs after a long pause
TIMES = (*BUSY, *IDLE, *LONG)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CutCost(_Frozen):
    index: int = Field(ge=1)
    tensor: str
    bytes_per_frame: int = Field(ge=0)  # raw
    wire_bytes: dict[str, float] = {}  # encoding -> measured record bytes per frame
    prefix_ms: dict[int, float]  # batch size -> ms per batch, nodes [0, index)
    suffix_ms: dict[int, float]  # batch size -> ms per batch, nodes [index, n)
    # The same, each run started after an idle pause (empty in profiles from before)
    prefix_idle_ms: dict[int, float] = {}
    suffix_idle_ms: dict[int, float] = {}
    # The same after the profile's long pause (empty in profiles from before)
    prefix_long_ms: dict[int, float] = {}
    suffix_long_ms: dict[int, float] = {}
    prefix_memory: int = 0  # bytes, estimated
    suffix_memory: int = 0
    prefix_flops: int = 0  # per frame
    agreement: dict[str, float] = {}  # lossy encoding -> top-1 agreement with the unsplit model

    def map_times(
        self, f: Callable[[dict[int, float]], dict[int, float]], names: Sequence[str] = TIMES
    ) -> CutCost:
        """This cut with `f` applied to its timing tables `names`."""
        return self.model_copy(update={name: f(getattr(self, name)) for name in names})

    def prefix(
        self, wait_s: float = 0.0, pauses: Pauses | None = None, share: float = 1.0
    ) -> dict[int, float]:
        """The prefix's ms per batch: busy, or run after waiting `wait_s` for its input
        (`Pauses.after`)."""
        return (pauses or Pauses()).after(
            wait_s, self.prefix_ms, self.prefix_idle_ms, self.prefix_long_ms, share
        )

    def suffix(
        self, wait_s: float = 0.0, pauses: Pauses | None = None, share: float = 1.0
    ) -> dict[int, float]:
        """The suffix's ms per batch, as `prefix`."""
        return (pauses or Pauses()).after(
            wait_s, self.suffix_ms, self.suffix_idle_ms, self.suffix_long_ms, share
        )


class Pauses(_Frozen):
    """The pauses the profiler timed runs after: a short one (`*_idle_ms`) and a long one
    (`*_long_ms`, none where `long_s` is 0)."""

    idle_s: float = Field(default=0.02, gt=0)
    long_s: float = Field(default=0.0, ge=0)
    long_every: int = Field(default=1, ge=1)  # cuts timed after it: every this many (longpause)

    def after(
        self,
        wait_s: float,
        busy: dict[int, float],
        idle: dict[int, float],
        long: dict[int, float],
        share: float = 1.0,
    ) -> dict[int, float]:
        """ms per batch of a run after waiting `wait_s` (0: busy, back to back): the figure
        after the short pause up to `idle_s`, then linear in the wait up to the one after
        the long pause, that one beyond (a 25 ms prefix on the testbed's host: 25 ms
        busy, 25 after 20 ms, 67 after 1 s, 105 after 2 s, 119 after 4 s), what the long
        pause adds over the short one counted at `share`. Never below the busy figure;
        without a figure after a pause, the one before it."""
        if wait_s <= 0:
            return busy
        short = {b: max(ms, idle.get(b, ms)) for b, ms in busy.items()}
        if not long or self.long_s <= self.idle_s or wait_s <= self.idle_s:
            return short
        w = share * min((wait_s - self.idle_s) / (self.long_s - self.idle_s), 1.0)
        return {b: (1 - w) * ms + w * max(long.get(b, ms), ms) for b, ms in short.items()}


class NodeCost(_Frozen):
    name: str
    op: str
    ms: float  # per batch of profile.node_batch frames, from ONNX Runtime's profiler
    flops: int = 0  # per frame


class CodecCost(_Frozen):
    encode_ns_per_byte: float
    decode_ns_per_byte: float
    per_record_us: float = 0.0  # fixed cost per record (both ends)


class TransportCost(_Frozen):
    """CPU a stage spends per record around its model (consume, produce, the loop), per
    record and per byte consumed plus produced: the loop's own thread, and the process."""

    main_us_per_record: float
    main_ns_per_byte: float
    total_us_per_record: float
    total_ns_per_byte: float
    # Measured on the stage loop itself, raw codec included (profiles from before were
    # measured on a bare consume -> produce relay: the codec is charged on top of those).
    codec_included: bool = False

    def ms(self, nbytes: float, *, main: bool) -> float:
        """CPU ms for one record in and one out, `nbytes` between them."""
        if main:
            return (self.main_us_per_record + self.main_ns_per_byte * nbytes / 1000) / 1000
        return (self.total_us_per_record + self.total_ns_per_byte * nbytes / 1000) / 1000


class LinkProfile(_Frozen):
    """This tier's path to the broker, measured through it."""

    uplink_bps: float  # payload throughput of records of `probe_bytes`, tier -> broker
    rtt_ms: float  # produce -> acknowledged, small record
    hop_ms: float  # produce -> consumed on the other side, small record (one broker hop)
    probe_bytes: int
    measured_at: float


class TierProfile(_Frozen):
    model: str
    onnx_sha256: str
    tier: str
    host: str
    cpus: float  # CPUs this tier had (its quota)
    cpu_share: float = 1.0  # of min(threads, cpus), what a busy stage really got (CPU / wall)
    threads: int  # ONNX Runtime threads the timings used
    batch_sizes: tuple[int, ...]
    frame_bytes: int  # the model's input per frame: what a camera sends raw
    whole_ms: dict[int, float]  # batch size -> ms per batch, the whole model
    cuts: tuple[CutCost, ...]
    nodes: tuple[NodeCost, ...] = ()
    node_batch: int = 1
    codec: dict[str, CodecCost] = {}
    link: LinkProfile | None = None
    transport: TransportCost | None = None
    measured_at: float
    frames: int = 0  # real frames the accuracy figures used
    steal: float | None = None  # of the host's CPU, taken by the hypervisor while profiling
    pauses: Pauses = Pauses()  # what the runs after idle were timed after

    @property
    def stolen(self) -> bool:
        """Whether the hypervisor took more than MAX_STEAL of the host's CPU while this was
        measured: a profile worth taking again on a quieter host."""
        return self.steal is not None and self.steal > MAX_STEAL

    def cut(self, index: int) -> CutCost:
        for c in self.cuts:
            if c.index == index:
                return c
        raise ConfigError(f"the {self.tier} profile of {self.model} has no cut {index}")

    def key(self) -> str:
        """The record key on the compacted profiles topic: one latest profile per model/tier."""
        return f"{self.model}/{self.tier}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> TierProfile:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise ConfigError(f"not a tier profile: {exc.errors()[0]['msg']}") from exc


def save_profile(profile: TierProfile, path: Path) -> None:
    path.write_text(json.dumps(json.loads(profile.to_json()), indent=1))


def load_profile(path: Path) -> TierProfile:
    try:
        raw: Any = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read profile {path}: {exc}") from exc
    return TierProfile.from_json(raw)
