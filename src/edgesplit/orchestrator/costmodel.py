"""The cost model: a candidate plan's per-frame latency and its throughput, from profiles.

A candidate is a list of cuts (k cuts -> k+1 stages), an encoding per cut and a tier per
stage (tiers in chain order: edge, fog, cloud; one stage per tier — more processes on one
tier are replicas of a stage, the rebalancer's business). The broker sits behind every tier's
uplink, so every record a stage produces crosses its own tier's uplink; the camera sits on
the first tier, so frames reach stage 0 without crossing a link when stage 0 runs there,
and cross the first tier's uplink when it runs elsewhere (cloud-only).

- throughput: the slowest of the stages and the links (a min-max objective, not a sum):
  a stage at its full micro-batch does ms(batch)/batch of compute per frame, plus the CPU
  of its loop around the model: consuming, decoding, encoding and producing the frame's
  records (the profile's transport cost, measured on the stage loop with the raw codec;
  a lossy encoding's extra codec work on top) — all of it within the tier's CPU quota,
  or, on a tier with CPUs to spare, only the part on the stage's own thread (librdkafka's
  threads run beside it);
  and all of it over the share of its CPUs a busy stage really gets on that tier (the
  profile's cpu_share: a CFS quota delivers less than it says);
  a link carries uplink_bps / (8 x wire bytes) frames per second;
- latency (unloaded): compute at batch 1 + codec + one broker hop per record + the time
  each record takes over its link.

Compute is the profile's busy figure (runs back to back) for throughput, and for the
stages that set it; a stage with WAIT_MARGIN of room over the pipeline's rate waits for
its input before each run, and its compute is the figure after that wait (`wait_s`: the
frames of a run arriving at the pipeline's rate, less the run itself; a small segment
costs 2-3x more after a moment's pause, and more again after a few hundred ms, as
behind a thin uplink or waiting on its own: profiler), as is every stage's in the
unloaded latency, after a moment's wait. Of what the profile's long pause adds over its
short one, a stage in a pipeline pays WAIT_SHARE: on one day's validations,
MobileNetV2's stages paid all of it, ResNet-18's and AlexNet's a quarter to a half
(3/4 predicted the most of the three within 15%; docs/validation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.profile import TierProfile

RESULT_BYTES = 200  # a top-k Result record
RECORD_OVERHEAD = 160  # ids, trace, tensor header around the bytes
_WIRE_FACTOR = {"raw": 1.0, "fp16": 0.5, "int8": 0.25}
WAIT_MARGIN = 1.1  # a stage this much faster than its pipeline waits for its input
MOMENT = 1e-3  # s, a wait no longer than the profile's short pause (its figure after idle)
WAIT_SHARE = 0.75  # of what the profile's long pause adds over its short one, a stage pays


@dataclass(frozen=True)
class Candidate:
    cuts: tuple[int, ...]
    encodings: tuple[str, ...]  # one per cut
    tiers: tuple[str, ...]  # one per stage

    def __post_init__(self) -> None:
        if len(self.encodings) != len(self.cuts) or len(self.tiers) != len(self.cuts) + 1:
            raise PlanningError(
                f"a candidate needs one encoding per cut and one tier per stage: {self}"
            )
        if list(self.cuts) != sorted(set(self.cuts)):
            raise PlanningError(f"cuts must increase strictly: {self.cuts}")
        if len(set(self.tiers)) != len(self.tiers):
            raise PlanningError(f"one stage per tier: {self.tiers}")

    def describe(self) -> str:
        if not self.cuts:
            return f"whole model on {self.tiers[0]}"
        parts = [
            f"{t}" + (f" | cut {c} ({e}) |" if i < len(self.cuts) else "")
            for i, (t, c, e) in enumerate(
                zip(self.tiers, (*self.cuts, 0), (*self.encodings, ""), strict=True)
            )
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class Prediction:
    throughput_fps: float
    latency_ms: float
    stage_ms: tuple[float, ...]  # per frame at the batch size: compute + codec + transport
    compute_ms: tuple[float, ...]  # per frame at the batch size: ONNX Runtime only
    waits: tuple[bool, ...]  # per stage: it waits for its input (compute_ms after a wait)
    interval_s: tuple[float, ...]  # per stage: seconds between its frames (0: busy)
    link_fps: tuple[float, ...]  # per record stream crossing a link (inf: none crosses)
    wire_bytes: tuple[float, ...]  # per frame, each stage's output on the wire
    bottleneck: str

    @property
    def headroom_fps(self) -> float:
        """The slowest stage's own rate, links left out: the CPU the plan has to spare."""
        return min((1000 / ms for ms in self.stage_ms if ms > 0), default=float("inf"))


@dataclass(frozen=True)
class Environment:
    """What the predictions assume about the tiers: profiles, uplinks, batch size."""

    profiles: Mapping[str, TierProfile]  # tier -> its profile of the model
    uplink_bps: Mapping[str, float]  # tier -> its uplink (missing or inf: unconstrained)
    chain: tuple[str, ...]  # tier order; the camera is on chain[0]
    batch: int = 4
    hop_ms: float = 5.0  # one broker hop (produce -> consumed), when no profile says

    def profile(self, tier: str) -> TierProfile:
        try:
            return self.profiles[tier]
        except KeyError:
            raise PlanningError(
                f"no profile for tier {tier!r}: run `edgesplit profile MODEL "
                f"--tier {tier}` there first"
            ) from None

    def uplink(self, tier: str) -> float:
        return self.uplink_bps.get(tier, float("inf"))


def _ms(table: Mapping[int, float], batch: int) -> float:
    """ms per batch at `batch`, interpolated per frame between measured batch sizes."""
    if batch in table:
        return table[batch]
    sizes = sorted(table)
    below = max((b for b in sizes if b <= batch), default=sizes[0])
    above = min((b for b in sizes if b >= batch), default=sizes[-1])
    if below == above:
        return table[below] / below * batch
    per = (table[below] / below) + (table[above] / above - table[below] / below) * (
        (batch - below) / (above - below)
    )
    return per * batch


def segment_ms(
    profile: TierProfile, start: int | None, end: int | None, batch: int, wait_s: float = 0.0
) -> float:
    """ms per batch of the nodes between two cuts (None: the model's start or end): busy,
    or for a run that starts after the stage waited `wait_s` for its input. A middle
    stage after a wait costs its busy time plus what the wait adds to the prefix it ends
    with (that is a cost per run, of refilling what the pause lost, more than per node).
    The whole model has no figure after a wait: on a large segment it adds a few percent
    at most on a quiet host."""
    if start is None and end is None:
        return _ms(profile.whole_ms, batch)
    pauses = profile.pauses
    if start is None:
        assert end is not None
        return _ms(profile.cut(end).prefix(wait_s, pauses, WAIT_SHARE), batch)
    if end is None:
        return _ms(profile.cut(start).suffix(wait_s, pauses, WAIT_SHARE), batch)
    last = profile.cut(end)
    woken = _ms(last.prefix(wait_s, pauses, WAIT_SHARE), batch) - _ms(last.prefix_ms, batch)
    return max(_ms(last.prefix_ms, batch) - _ms(profile.cut(start).prefix_ms, batch), 0.0) + woken


def wait_s(
    profile: TierProfile, start: int | None, end: int | None, batch: int, interval_s: float
) -> float:
    """Seconds a stage that waits for its input idles before a run of `batch` frames, its
    frames arriving `interval_s` apart (`Prediction.interval_s`): their interval, less the run
    itself (after a moment's wait), at least MOMENT."""
    run_s = segment_ms(profile, start, end, batch, MOMENT) / 1000
    return max(batch * interval_s - run_s, MOMENT)


def frame_ms(
    profile: TierProfile,
    start: int | None,
    end: int | None,
    batches: Mapping[int, int],
    *,
    interval_s: float | None = None,
) -> float:
    """ms per frame of the nodes between two cuts over a stage's `batches` (size -> how
    many ran), busy, or with `interval_s` waiting for its input before each run, its frames
    arriving that far apart (`wait_s`): a stage that is not its pipeline's bottleneck
    takes frames as they come, in smaller batches than its plan allows, each after a
    wait, at a higher cost per frame."""

    def run_ms(size: int) -> float:
        wait = 0.0 if interval_s is None else wait_s(profile, start, end, size, interval_s)
        return segment_ms(profile, start, end, size, wait)

    frames = sum(size * n for size, n in batches.items())
    runs = sum(n * run_ms(size) for size, n in batches.items())
    return runs / frames if frames else 0.0


def wire_bytes(profile: TierProfile, cut: int | None, encoding: str) -> float:
    """Bytes per frame on the wire after a cut (None: the result)."""
    if cut is None:
        return RESULT_BYTES
    c = profile.cut(cut)
    if encoding in c.wire_bytes:
        return c.wire_bytes[encoding]
    base = encoding.split("+", maxsplit=1)[0]
    return c.bytes_per_frame * _WIRE_FACTOR.get(base, 1.0) + RECORD_OVERHEAD


def _codec_ms(profile: TierProfile, encoding: str, nbytes: float) -> float:
    cost = profile.codec.get(encoding.split("+", maxsplit=1)[0])
    if cost is None:
        return 0.0
    return (
        cost.encode_ns_per_byte + cost.decode_ns_per_byte
    ) * nbytes / 1e6 + 2 * cost.per_record_us / 1000


def overhead_ms(profile: TierProfile, codec_ms: float, in_bytes: float, out_bytes: float) -> float:
    """A stage's time per frame beyond ONNX Runtime on this tier: codec and transport CPU,
    within the tier's quota, or on the stage's own thread where the tier has room."""
    t = profile.transport
    nbytes = in_bytes + out_bytes
    main = codec_ms + (t.ms(nbytes, main=True) if t else 0.0)
    total = codec_ms + (t.ms(nbytes, main=False) if t else 0.0)
    return max(main, total / profile.cpus)


@dataclass(frozen=True)
class StageCost:
    """One stage on one tier, per frame."""

    compute_ms: float  # ONNX Runtime
    extra_ms: float  # codec and transport (`overhead_ms`)
    out_bytes: float  # on the wire after the stage
    cpu_share: float

    @property
    def ms(self) -> float:
        """The stage's time per frame: all of it, at the share of the CPU it really gets."""
        return (self.compute_ms + self.extra_ms) / self.cpu_share


def stage_cost(
    p: TierProfile,
    start: int | None,
    end: int | None,
    encoding: str,
    in_bytes: float,
    batch: int,
) -> StageCost:
    """The stage from cut `start` to cut `end` (None: the model's start or end) on the tier
    profiled as `p`, sending `end` as `encoding` and receiving `in_bytes` per frame."""
    out = wire_bytes(p, end, encoding)
    codec = _codec_ms(p, encoding, out) if end is not None else 0.0
    if p.transport is not None and p.transport.codec_included:  # the raw codec is in it
        codec = max(codec - _codec_ms(p, "raw", out), 0.0)
    compute = segment_ms(p, start, end, batch) / batch
    return StageCost(compute, overhead_ms(p, codec, in_bytes, out), out, p.cpu_share)


def predict(c: Candidate, env: Environment) -> Prediction:
    batch = env.batch
    bounds: list[int | None] = [None, *c.cuts, None]
    encodings = (*c.encodings, "raw")
    stage_ms, compute_ms, link_fps, wire = [], [], [], []
    latency = 0.0
    first = env.chain[0]
    frame_bytes = env.profile(c.tiers[0]).frame_bytes
    if c.tiers[0] != first:  # the camera's frames cross the first tier's uplink
        fps = env.uplink(first) / (8 * (frame_bytes + RECORD_OVERHEAD))
        link_fps.append(fps)
        latency += 1000 / fps if fps != float("inf") else 0.0
    received = float(frame_bytes + RECORD_OVERHEAD)
    for i, tier in enumerate(c.tiers):
        p = env.profile(tier)
        cost = stage_cost(p, bounds[i], bounds[i + 1], encodings[i], received, batch)
        received = cost.out_bytes
        stage_ms.append(cost.ms)
        compute_ms.append(cost.compute_ms)
        wire.append(cost.out_bytes)
        fps = env.uplink(tier) / (8 * cost.out_bytes)
        link_fps.append(fps)
        hop = p.link.hop_ms if p.link else env.hop_ms
        latency += segment_ms(p, bounds[i], bounds[i + 1], 1, MOMENT) + cost.extra_ms + hop
        latency += 1000 / fps if fps != float("inf") else 0.0
    limits = [
        (1000 / ms if ms > 0 else float("inf"), f"stage {i} ({t})")
        for i, (ms, t) in enumerate(zip(stage_ms, c.tiers, strict=True))
    ]
    link_names = ([f"frames over {first}'s uplink"] if c.tiers[0] != first else []) + [
        f"stage {i}'s output over {t}'s uplink" for i, t in enumerate(c.tiers)
    ]
    limits += list(zip(link_fps, link_names, strict=True))
    throughput, bottleneck = min(limits, key=lambda x: x[0])
    waits = tuple(ms * throughput * WAIT_MARGIN < 1000 for ms in stage_ms)
    # A stage waiting on its own uplink idles between runs too, its frames arriving at
    # the link's rate (MobileNetV2's early prefixes behind 5-100 Mbit/s ran 15-35% over
    # their figure after 20 ms, at their figure after a few hundred ms): sending keeps
    # librdkafka's thread busy, not the model's.
    intervals = tuple(1 / throughput if w and throughput > 0 else 0.0 for w in waits)
    for i, tier in enumerate(c.tiers):
        if waits[i]:
            p, start, end = env.profile(tier), bounds[i], bounds[i + 1]
            wait = wait_s(p, start, end, batch, intervals[i])
            compute_ms[i] = segment_ms(p, start, end, batch, wait) / batch
    return Prediction(
        throughput,
        latency,
        tuple(stage_ms),
        tuple(compute_ms),
        waits,
        intervals,
        tuple(link_fps),
        tuple(wire),
        bottleneck,
    )


def score(p: Prediction, objective: str) -> float:
    """Bigger is better."""
    return p.throughput_fps if objective == "throughput" else -p.latency_ms


def rank(
    cands: Sequence[Candidate], env: Environment, objective: str
) -> list[tuple[Candidate, Prediction]]:
    scored = [(c, predict(c, env)) for c in cands]
    return sorted(scored, key=lambda cp: score(cp[1], objective), reverse=True)
