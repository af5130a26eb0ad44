"""What the orchestrator sees of a running plan: links, stage speeds, lag, spare CPUs.

An `Observation` is built from three control-plane sources:

- profiles: each tier's latest link measurement (`edgesplit profile link --every`
  re-measures it through the broker and republishes the tier's profile);
- stage metrics (the pipeline's metrics topic, tailed): each stage's utilization, its
  ONNX Runtime CPU time per frame in full micro-batches (against the profile's: a tier
  slower than profiled), and the bytes each tier's stages send up, which a link probe
  competes with; a stage blocked on its producer queue has a full link, and what it
  sends is what the link carries;
- lag: each stage group's lag and its Burrow-style status over a sliding window.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.consumers.lag import LagReader
from edgesplit.consumers.lagstatus import LagEvaluator, LagRules
from edgesplit.errors import DecodeError
from edgesplit.kafka.clients import consumer_config
from edgesplit.log import get_logger
from edgesplit.orchestrator.costmodel import Prediction
from edgesplit.orchestrator.plan import Plan
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.orchestrator.rebalancer import Observation
from edgesplit.stages.metrics import StageMetrics, decode_metrics

log = get_logger("observe")
SCALE_DEADBAND = 0.25  # measured/profiled compute within this of 1: the profile holds
LINK_FULL = 0.25  # a stage blocked on its producer this share of the time has a full link


class MetricsTail:
    """The newest stage-metrics windows of a pipeline (one consumer, no group)."""

    def __init__(self, settings: KafkaSettings, topic: str, keep_s: float = 60.0) -> None:
        self.topic = topic
        self.keep_s = keep_s
        self.windows: list[StageMetrics] = []
        self._consumer = Consumer(
            consumer_config(settings, group_id="edgesplit-observer") | {"enable.auto.commit": False}
        )
        meta = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
        parts = sorted(meta.partitions) if meta is not None and meta.error is None else [0]
        self._consumer.assign([TopicPartition(topic, p, 0) for p in parts])

    def poll(self) -> list[StageMetrics]:
        while True:
            msgs = self._consumer.consume(500, timeout=0.2)
            if not msgs:
                break
            for msg in msgs:
                if msg.error() is not None:
                    continue
                try:
                    self.windows.append(decode_metrics(msg.value() or b""))
                except DecodeError as exc:
                    log.warning("metrics_undecodable", reason=str(exc))
        horizon = (time.time() - self.keep_s) * 1e6
        self.windows = [w for w in self.windows if w.window_end_us >= horizon]
        return self.windows

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class StageView:
    """One stage over the recent windows of its current plan version."""

    frames: int  # in full micro-batches
    utilization: float  # compute time / wall time, averaged over its instances
    compute_ms: float | None  # ONNX Runtime ms per frame in full micro-batches (median)
    cpu_ms: float | None  # ONNX Runtime CPU ms per frame in full micro-batches (median)
    bytes_out_per_s: float
    instances: int
    blocked: float = 0.0  # share of the time blocked on a full producer queue: a full link


def stage_views(
    windows: Sequence[StageMetrics], plan: Plan, since_us: float
) -> dict[int, StageView]:
    out = {}
    for stage in plan.stages:
        ws = [
            w
            for w in windows
            if w.pipeline == plan.pipeline
            and w.plan_version == plan.version
            and w.stage == stage.index
            and w.window_end_us >= since_us
        ]
        if not ws:
            continue
        wall = sum(w.seconds for w in ws) or 1e-9
        span = (max(w.window_end_us for w in ws) - min(w.window_start_us for w in ws)) / 1e6
        full = [b for w in ws for b in w.batch_samples if b.size == stage.batch.max_size]
        cpu = [b.compute_cpu_ms / b.size for b in full if b.compute_cpu_ms > 0]
        out[stage.index] = StageView(
            frames=len(full) * stage.batch.max_size,
            utilization=sum(w.compute_s for w in ws) / wall,
            compute_ms=statistics.median(b.compute_ms / b.size for b in full) if full else None,
            cpu_ms=statistics.median(cpu) if cpu else None,
            bytes_out_per_s=sum(w.bytes_out for w in ws) / max(span, 1e-3),
            instances=len({w.instance for w in ws}),
            blocked=sum(w.produce_blocked_s for w in ws) / wall,
        )
    return out


@dataclass
class Observer:
    """Builds observations of the plan in force; one per orchestrator step."""

    settings: KafkaSettings
    metrics: MetricsTail
    window_s: float = 10.0
    lag_rules: LagRules = field(default_factory=lambda: LagRules(window=3, stop_after_s=60.0))

    def __post_init__(self) -> None:
        self._lag = LagReader(self.settings)
        self._evaluator = LagEvaluator(self.lag_rules)
        self.last: dict[str, dict[Any, Any]] = {}

    def observe(
        self,
        plan: Plan,
        predicted: Prediction,
        profiles: Mapping[str, TierProfile],
        replicas: Mapping[int, int],
        chain: Sequence[str],
    ) -> Observation:
        now = time.time()
        views = stage_views(self.metrics.poll(), plan, (now - self.window_s) * 1e6)
        groups = [plan.group_id(s.index) for s in plan.stages]
        lags = self._lag.measure(
            groups, {plan.group_id(s.index): [s.input_topic] for s in plan.stages}
        )
        statuses = {i: self._evaluator.observe(g) for i, g in enumerate(lags)}
        uplinks = {}
        for tier in chain:
            p = profiles.get(tier)
            if p is None or p.link is None:
                continue
            senders = [
                v
                for i, v in views.items()
                if plan.stages[i].tier == tier and i < len(plan.stages) - 1
            ]
            uplinks[tier] = link_estimate(p.link.uplink_bps, senders)
        scale = _compute_scale(plan, predicted, views, profiles)
        spare = {
            tier: p.cpus
            - sum(replicas.get(s.index, 1) * s.threads for s in plan.stages if s.tier == tier)
            for tier, p in profiles.items()
        }
        self.last = {
            "lag": {i: g.total_lag for i, g in enumerate(lags)},
            "status": {i: str(s.status) for i, s in statuses.items()},
            "utilization": {i: round(v.utilization, 3) for i, v in views.items()},
            "uplink_bps": uplinks,
            "compute_scale": scale,
        }
        return Observation(
            at=now,
            uplink_bps=uplinks,
            compute_scale=scale,
            lag_status={i: str(s.status) for i, s in statuses.items()},
            utilization={i: v.utilization for i, v in views.items()},
            replicas=dict(replicas),
            spare_cpus=spare,
            partitions=plan.topics.partitions,
        )

    def forget(self, plan: Plan) -> None:
        for s in plan.stages:
            self._evaluator.forget(plan.group_id(s.index))

    def close(self) -> None:
        self._lag.close()
        self.metrics.close()


def link_estimate(probe_bps: float, senders: Sequence[StageView]) -> float:
    """A tier's uplink from its last probe and what its stages are sending up.

    A probe shares the link with the pipeline: what it got plus what the stages were
    sending is what the link carries. A stage waiting for its producer queue to drain
    sends what the link carries: that shows within a metrics window, while a probe on a
    full link takes as long as the queue ahead of it.
    """
    sending = sum(v.bytes_out_per_s * 8 for v in senders)
    if any(v.blocked >= LINK_FULL for v in senders):
        return min(probe_bps + sending, sending)
    return probe_bps + sending


def measured_compute_ms(
    cpu_ms: float | None, wall_ms: float | None, threads: int, profile: TierProfile | None
) -> float | None:
    """A stage's ONNX Runtime ms per frame as its tier's profile counts it: CPU time
    spread over min(threads, the tier's CPUs) (wall time where no CPU time was kept)."""
    if cpu_ms is None or profile is None:
        return wall_ms
    return cpu_ms / min(float(threads), profile.cpus)


def _compute_scale(
    plan: Plan,
    predicted: Prediction,
    views: Mapping[int, StageView],
    profiles: Mapping[str, TierProfile],
) -> dict[str, float]:
    """Per tier: measured / predicted ONNX Runtime time, where it is clearly off (outside
    the dead band) and measured on enough frames; a tier speeding up or slowing down."""
    out = {}
    for i, v in views.items():
        stage = plan.stages[i]
        ms = measured_compute_ms(v.cpu_ms, v.compute_ms, stage.threads, profiles.get(stage.tier))
        if ms is None or v.frames < 20 or predicted.compute_ms[i] <= 0:
            continue
        ratio = ms / predicted.compute_ms[i]
        if abs(ratio - 1) > SCALE_DEADBAND:
            out[plan.stages[i].tier] = ratio
    return out
