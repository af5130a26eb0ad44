"""What a pipeline did: stage metrics records plus the trace stamps every result carries.

From the stages' metrics windows: per-stage throughput, utilization (share of wall time
spent computing), idle "bubble" time (waiting for input), CPU and memory. From the trace
stamps of the results: per-hop latency (time in each topic, time in each stage) and
end-to-end latency (capture -> result produced).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesplit.config import KafkaSettings
from edgesplit.errors import DecodeError
from edgesplit.kafka.io import read_to_end
from edgesplit.log import get_logger
from edgesplit.orchestrator.plan import Plan
from edgesplit.schemas.codec import decode_result
from edgesplit.schemas.records import Result
from edgesplit.stages.metrics import StageMetrics, decode_metrics

log = get_logger("metrics")


@dataclass(frozen=True)
class TimedResult:
    result: Result
    produced_us: int  # the result record's timestamp


@dataclass(frozen=True)
class StageSummary:
    stage: int
    tier: str
    instances: int
    seconds: float
    frames_in: int
    frames_out: int
    dead_letters: int
    throughput_fps: float
    utilization: float  # compute time / wall time (per instance)
    bubble: float  # waiting-for-input time / wall time
    mean_batch: float
    compute_ms_per_frame: float
    decode_ms_per_frame: float
    encode_ms_per_frame: float
    cpu_percent: float  # process CPU (all threads) / wall time
    rss_mb: float
    bytes_in_per_frame: float
    bytes_out_per_frame: float


@dataclass(frozen=True)
class Percentiles:
    name: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, name: str, values_ms: Sequence[float]) -> Percentiles:
        v = np.asarray(values_ms, dtype=np.float64)
        if v.size == 0:
            return cls(name, 0, 0.0, 0.0, 0.0)
        p50, p95, p99 = np.percentile(v, [50, 95, 99])
        return cls(name, int(v.size), float(p50), float(p95), float(p99))


@dataclass(frozen=True)
class PipelineMetrics:
    pipeline: str
    plan_version: int
    stages: tuple[StageSummary, ...]
    hops: tuple[Percentiles, ...]  # time in topic before each stage, then in each stage
    end_to_end: Percentiles
    results: int
    windows: tuple[StageMetrics, ...]
    timed: tuple[TimedResult, ...]


def collect(settings: KafkaSettings, plan: Plan) -> tuple[list[StageMetrics], list[TimedResult]]:
    """Read the plan version's metrics windows and every result so far."""
    windows = []
    for msg in read_to_end(settings, plan.topics.metrics):
        try:
            m = decode_metrics(msg.value() or b"")
        except DecodeError as exc:
            log.warning("metrics_undecodable", reason=str(exc))
            continue
        if m.plan_version == plan.version:
            windows.append(m)
    timed = []
    for msg in read_to_end(settings, plan.topics.results):
        try:
            result = decode_result(msg.value() or b"")
        except DecodeError:
            continue
        timed.append(TimedResult(result, msg.timestamp()[1] * 1000))
    return windows, timed


def summarise_stage(stage: int, windows: Sequence[StageMetrics]) -> StageSummary:
    instances = {w.instance for w in windows}
    # wall time: the span each instance reported, summed over instances
    spans: dict[str, list[int]] = defaultdict(list)
    for w in windows:
        spans[w.instance] += [w.window_start_us, w.window_end_us]
    wall = sum((max(v) - min(v)) / 1e6 for v in spans.values()) or 1e-9
    run = (max(w.window_end_us for w in windows) - min(w.window_start_us for w in windows)) / 1e6

    def total(name: str) -> float:
        return float(sum(getattr(w, name) for w in windows))

    frames = total("batch_frames") or 1.0
    out = total("frames_out")
    rss = max(w.rss_bytes for w in windows)
    return StageSummary(
        stage=stage,
        tier=windows[0].tier,
        instances=len(instances),
        seconds=run,
        frames_in=int(total("frames_in")),
        frames_out=int(out),
        dead_letters=int(total("dead_letters")),
        throughput_fps=out / run if run > 0 else 0.0,
        utilization=total("compute_s") / wall,
        bubble=total("wait_s") / wall,
        mean_batch=total("batch_frames") / (total("batches") or 1.0),
        compute_ms_per_frame=1000 * total("compute_s") / frames,
        decode_ms_per_frame=1000 * total("decode_s") / frames,
        encode_ms_per_frame=1000 * total("encode_s") / frames,
        cpu_percent=100 * total("cpu_s") / wall,
        rss_mb=rss / 1e6,
        bytes_in_per_frame=total("bytes_in") / (total("frames_in") or 1.0),
        bytes_out_per_frame=total("bytes_out") / (out or 1.0),
    )


def hop_latencies(timed: Sequence[TimedResult]) -> tuple[list[Percentiles], Percentiles]:
    """Per-hop latencies from the trace stamps, and end to end (capture -> produced)."""
    per_hop: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    e2e = []
    for t in timed:
        trace = t.result.trace
        for prev, cur in itertools.pairwise(trace):
            for name, ms in (
                (f"topic -> {cur.hop}", (cur.received_us - prev.sent_us) / 1000),
                (f"in {cur.hop}", (cur.sent_us - cur.received_us) / 1000),
            ):
                if name not in per_hop:
                    order.append(name)
                per_hop[name].append(ms)
        e2e.append((t.produced_us - t.result.capture_us) / 1000)
    return [Percentiles.of(n, per_hop[n]) for n in order], Percentiles.of("end to end", e2e)


def analyse(
    plan: Plan, windows: Sequence[StageMetrics], timed: Sequence[TimedResult]
) -> PipelineMetrics:
    by_stage: dict[int, list[StageMetrics]] = defaultdict(list)
    for w in windows:
        by_stage[w.stage].append(w)
    stages = tuple(summarise_stage(s, by_stage[s]) for s in sorted(by_stage))
    hops, e2e = hop_latencies(timed)
    return PipelineMetrics(
        plan.pipeline,
        plan.version,
        stages,
        tuple(hops),
        e2e,
        len(timed),
        tuple(windows),
        tuple(timed),
    )


def as_dict(report: PipelineMetrics) -> dict[str, Any]:
    """The report for `--json`: summaries, not the raw windows and results."""
    from dataclasses import asdict  # noqa: PLC0415

    return {
        "pipeline": report.pipeline,
        "plan_version": report.plan_version,
        "results": report.results,
        "stages": [asdict(s) for s in report.stages],
        "hops": [asdict(h) for h in report.hops],
        "end_to_end": asdict(report.end_to_end),
    }
