"""A validation's cost-model figures: each stage's compute as the stages measured it (their
metrics), and the profiles' prediction of every check, for the batch sizes each stage
ran: from the profiles alone, calibrated on the one-tier runs, and at each run's host
speed. `validate` measures; this sets the measurements against the cost model."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from edgesplit.bench.checks import CutCheck
from edgesplit.config import KafkaSettings
from edgesplit.kafka.io import read_to_end
from edgesplit.orchestrator import auto
from edgesplit.orchestrator.costmodel import Candidate, Prediction, frame_ms, predict
from edgesplit.orchestrator.observe import measured_compute_ms
from edgesplit.orchestrator.plan import Plan
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.orchestrator.rebalancer import scaled
from edgesplit.stages.metrics import decode_metrics
from edgesplit.stages.stats import BatchSample


def calibration(
    passes: Sequence[Mapping[str, StageCompute]], profiles: Mapping[str, TierProfile]
) -> dict[str, tuple[float, ...]]:
    """Per tier: the whole model's ONNX Runtime time per frame measured in a running stage
    (the one-tier plan), over the profile's for the same batches, once per pass of the
    sweep that measured it. What the orchestrator learns from the stage metrics of the
    first plan it runs: in a pipeline a stage's compute is not what the profiler's loop
    measured (x0.88-1.4 on the testbed's host). That stage is busy (the whole model is the
    bottleneck): a factor for busy figures; the median of a tier's passes is the one
    applied (`factors`)."""
    out: dict[str, list[float]] = {}
    for whole in passes:
        for tier, measured in whole.items():
            profiled = frame_ms(profiles[tier], None, None, measured.batches)
            if measured.ms > 0 and profiled > 0:
                out.setdefault(tier, []).append(measured.ms / profiled)
    return {tier: tuple(ratios) for tier, ratios in out.items()}


def factors(calibrations: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per tier, the factor applied: the median of its passes' (`calibration`). The same
    whole model on the same tier measured x0.95 to x1.19 its profile in short runs minutes
    apart, and one factor moves every busy figure of the tier."""
    return {tier: statistics.median(runs) for tier, runs in calibrations.items() if runs}


def calibrate(
    cuts: Sequence[CutCheck],
    profiles: Mapping[str, TierProfile],
    scale: Mapping[str, float],
    batch: int,
) -> list[CutCheck]:
    """The checks predicted again from the profiles' busy figures scaled by `scale`
    (`calibration`: a stage waiting for its input keeps its figure after idle, unless the
    busy one, scaled, comes out higher: the cloud's x0.89-0.95 made ResNet-18's waiting
    cloud stages 15-20% too fast); the profiles' own predictions kept as `profiled_*`."""
    tuned = {t: scaled(p, scale.get(t, 1.0), busy_only=True) for t, p in profiles.items()}
    out = []
    for c in cuts:
        fps, ms = _predicted(c, tuned, batch)
        out.append(
            replace(
                c,
                predicted_fps=fps,
                predicted_ms=ms,
                profiled_fps=c.predicted_fps,
                profiled_ms=c.predicted_ms,
            )
        )
    return out


def at_host_speed(
    cuts: Sequence[CutCheck], profiles: Mapping[str, TierProfile], batch: int
) -> list[CutCheck]:
    """Each check with a metered slowdown predicted again from the profiles, every
    compute time scaled by it (`at_speed_*`): the cost model's error once the host's own
    speed during the run, which no profile foresees, is taken out. Uncalibrated: the
    calibration's one-tier runs had a host speed of their own."""

    def again(c: CutCheck, slowdown: float) -> CutCheck:
        fps, ms = _predicted(c, {t: scaled(p, slowdown) for t, p in profiles.items()}, batch)
        return replace(c, at_speed_fps=fps, at_speed_ms=ms)

    return [c if c.slowdown is None else again(c, c.slowdown) for c in cuts]


def median_runs(
    cuts: Sequence[CutCheck], profiles: Mapping[str, TierProfile], batch: int
) -> list[CutCheck]:
    """One check per cut and uplink, from all its runs: the median of each measured figure
    (throughput, each stage's compute, steal, host load and slowdown), over the batches of
    all of them, predicted again from `profiles` for those batches. The same plan measured
    minutes apart on the shared host moves by up to 20% (MobileNetV2 cut 80's edge at
    5 Mbit/s: 12.4, 14.7 and 14.8 ms a frame in three runs of 20 s), more than the cost
    model's own error; the median of runs spread over the sweep stands for the plan."""
    groups: dict[tuple[int, str], list[CutCheck]] = {}
    for c in cuts:
        groups.setdefault((c.cut, c.uplink), []).append(c)
    return [
        runs[0] if len(runs) == 1 else _merged(runs, profiles, batch) for runs in groups.values()
    ]


def _merged(runs: Sequence[CutCheck], profiles: Mapping[str, TierProfile], batch: int) -> CutCheck:
    def median(values: Sequence[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    def mix(stage: int) -> dict[int, int] | None:
        total: Counter[int] = Counter()
        for r in runs:
            total.update(r.batches[stage] or {})
        return dict(total) or None

    merged = replace(
        runs[0],
        measured_fps=statistics.median(r.measured_fps for r in runs),
        complete=all(r.complete for r in runs),
        frames=sum(r.frames for r in runs),
        measured_ms=(
            median([r.measured_ms[0] for r in runs]),
            median([r.measured_ms[1] for r in runs]),
        ),
        batches=(mix(0), mix(1)),
        steal=median([r.steal for r in runs]),
        host_busy=median([r.host_busy for r in runs]),
        slowdown=median([r.slowdown for r in runs]),
        runs=len(runs),
    )
    fps, ms = _predicted(merged, profiles, batch)
    return replace(merged, predicted_fps=fps, predicted_ms=ms)


def _predicted(
    c: CutCheck, profiles: Mapping[str, TierProfile], batch: int
) -> tuple[float, tuple[float, float]]:
    """`c`'s cut predicted from `profiles` at its uplink: frames/s, edge and cloud ms (for
    the batches each stage's compute was measured over)."""
    env = auto.environment(profiles, ("edge", "cloud"), {"edge": c.link_bps}, batch)
    pred = predict(Candidate((c.cut,), ("raw",), ("edge", "cloud")), env)
    return pred.throughput_fps, predicted_compute(c.cut, profiles, c.batches, pred)


def predicted_compute(
    cut: int,
    profiles: Mapping[str, TierProfile],
    batches: tuple[Mapping[int, int] | None, Mapping[int, int] | None],
    pred: Prediction,
) -> tuple[float, float]:
    """Edge and cloud compute per frame for the batches each ran (`pred`'s, at the plan's
    batch size, where they are not known), after its wait for a stage that `pred` has
    waiting for its input (its frames as far apart as `pred` has them)."""
    edge, cloud = batches
    gaps = [s if w else None for w, s in zip(pred.waits, pred.interval_s, strict=True)]
    return (
        pred.compute_ms[0]
        if not edge
        else frame_ms(profiles["edge"], None, cut, edge, interval_s=gaps[0]),
        pred.compute_ms[1]
        if not cloud
        else frame_ms(profiles["cloud"], cut, None, cloud, interval_s=gaps[1]),
    )


@dataclass(frozen=True)
class StageCompute:
    """A stage's measured ONNX Runtime time per frame, as its tier's profile counts it."""

    ms: float
    batches: Mapping[int, int]  # what it is measured over: batch size -> how many


def stage_batches(settings: KafkaSettings, plan: Plan) -> dict[int, list[BatchSample]]:
    """Per stage, the batches its metrics published for `plan` (read once: a deployment
    measured at several uplinks is split by time, `stage_compute_ms`'s `during`)."""
    out: dict[int, list[BatchSample]] = {}
    for msg in read_to_end(settings, plan.topics.metrics):
        m = decode_metrics(msg.value() or b"")
        if m.pipeline == plan.pipeline and m.plan_version == plan.version:
            out.setdefault(m.stage, []).extend(m.batch_samples)
    return out


def stage_compute_ms(
    published: Mapping[int, Sequence[BatchSample]],
    plan: Plan,
    batch: int,
    profiles: Mapping[str, TierProfile],
    runs: Sequence[tuple[int, int]] = (),
    skip: int = 0,
) -> dict[int, StageCompute]:
    """Each stage's measured ONNX Runtime time per frame as its tier's profile counts it
    (CPU time over min(threads, CPUs)), from the batches its metrics `published`
    (`stage_batches`) that ended during `runs` (from, to: µs since the epoch; none: all
    its batches), each run's after its first `skip` frames (`steady`): the median over
    its full batches where they hold at least half its frames; otherwise over all its
    batches, each size at its median, the sizes coming with it (`per_frame`: a stage that
    is not the bottleneck takes frames as they come: an AlexNet cut's cloud stage behind
    a 5 Mbit/s uplink ran batches of one, at 23 ms a frame where a full batch of four
    costs 15)."""
    out = {}
    for stage, samples in published.items():
        kept = (
            [b for start, end in runs for b in steady(samples, start, end, skip)]
            if runs
            else samples
        )
        batches = [(b.size, b.compute_cpu_ms or b.compute_ms) for b in kept]
        if not batches:
            continue
        cpu_ms, used = per_frame(batches, batch)
        s = plan.stages[stage]
        ms = measured_compute_ms(cpu_ms, None, s.threads, profiles.get(s.tier))
        if ms is not None:
            out[stage] = StageCompute(ms, used)
    return out


def steady(samples: Sequence[BatchSample], start: int, end: int, skip: int) -> list[BatchSample]:
    """The batches that ended between `start` and `end`, once the pipeline was full: those
    after the first `skip` frames (a run's warm-up frames and first micro-batch, as
    `kafka_runs.steady_fps` counts throughput), all of them where none would be left.
    On MobileNetV2's edge the first full batch after a deploy ran 15-50% slower than the
    next; a run of two batches would count it as half its figure."""
    during = sorted((b for b in samples if start <= b.end_us <= end), key=lambda b: b.end_us)
    seen = 0
    for i, b in enumerate(during):
        if seen >= skip:
            return during[i:]
        seen += b.size
    return during


def per_frame(batches: Sequence[tuple[int, float]], batch: int) -> tuple[float, dict[int, int]]:
    """ms per frame of a stage's (size, ms) batches, and the batches it is over: its full
    ones' median where they hold at least half its frames; else all of them, each at its
    size's median (a hiccup of the host moves a mean of a few batches, not a median)."""
    full = [ms / size for size, ms in batches if size == batch]
    if 2 * batch * len(full) >= sum(size for size, _ in batches):
        return statistics.median(full), {batch: len(full)}
    sizes = Counter(size for size, _ in batches)
    typical = {s: statistics.median(ms for size, ms in batches if size == s) for s in sizes}
    ms = sum(n * typical[s] for s, n in sizes.items()) / sum(s * n for s, n in sizes.items())
    return ms, dict(sizes)
