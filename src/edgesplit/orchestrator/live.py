"""`edgesplit orchestrate`: choose a plan, publish it, watch it, re-split and scale it live.

Each step observes the plan in force (links, stage speeds, lag, spare CPUs), asks the
rebalancer, and acts:

- re-split: the new version is built (its own topics), published on the plans topic
  (agents start its stages), and producers following the pipeline move to it at a frame
  boundary. The old version keeps its stages until it has drained: nothing more arrives
  on its frames topic and every stage group has committed to the end of its input. Then
  it is retired. Every frame is answered by exactly one version;
- scale: the version's replica counts change on the plans topic; agents add or stop
  stage processes (consumers in the same group).

Every step and every action is an event on the timeline (`timeline` CSV rows), which
is what `edgesplit bench live` plots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesplit.config import KafkaSettings
from edgesplit.kafka.io import end_offsets
from edgesplit.log import get_logger
from edgesplit.orchestrator import auto, control
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.costmodel import Candidate, Prediction, predict
from edgesplit.orchestrator.observe import MetricsTail, Observer
from edgesplit.orchestrator.plan import BatchPolicy, Delivery, Plan
from edgesplit.orchestrator.planner import Constraints
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.orchestrator.profiles_topic import read_profiles
from edgesplit.orchestrator.rebalancer import Rebalancer, Replan

log = get_logger("orchestrator")


@dataclass(frozen=True)
class Event:
    at: float  # unix seconds
    kind: str  # chosen, published, observed, replanned, scaled, retired
    version: int
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """How the orchestrator runs a pipeline."""

    model: str
    onnx: Path
    classes: str | None
    chain: tuple[str, ...]
    pipeline: str
    workdir: Path
    objective: str = "throughput"
    constraints: Constraints = field(default_factory=Constraints)
    batch: int = 4
    partitions: int = 2
    interval_s: float = 4.0
    gain: float = 1.3
    sustain: int = 2
    cooldown_s: float = 20.0
    resplit: bool = True  # act on the rebalancer's re-split decisions
    scale: bool = True  # act on its replica decisions
    delivery: Delivery = "at-least-once"  # every version's (plan.Delivery)
    uplinks: Mapping[str, float] = field(default_factory=dict)  # overrides, bits/s
    profile_files: Mapping[str, TierProfile] = field(default_factory=dict)


@dataclass
class _Draining:
    plan: Plan
    since: float
    frames_end: int = -1


class Orchestrator:
    def __init__(
        self,
        kafka: KafkaSettings,
        s: Settings,
        on_event: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.kafka = kafka
        self.s = s
        self.events: list[Event] = []
        self._on_event = on_event
        self.plan: Plan | None = None
        self.predicted: Prediction | None = None
        self.replicas: dict[int, int] = {}
        self._draining: list[_Draining] = []
        self._rebalancer: Rebalancer | None = None
        self._observer: Observer | None = None

    # --- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.wait(self.s.interval_s):
                self.step()
        finally:
            self.close()

    def start(self) -> Plan:
        profiles = self._profiles()
        env = auto.environment(profiles, self.s.chain, self.s.uplinks, self.s.batch)
        choice = auto.choose(env, self.s.constraints, self.s.objective)
        self._emit(
            "chosen",
            0,
            choice.winner.describe(),
            {"predicted_fps": choice.prediction.throughput_fps},
        )
        self._rebalancer = Rebalancer(
            env,
            self.s.constraints,
            self.s.objective,
            choice.winner,
            gain=self.s.gain if self.s.resplit else float("inf"),
            sustain=self.s.sustain,
            cooldown_s=self.s.cooldown_s,
        )
        existing = [v for (p, v) in control.read_plans(self.kafka) if p == self.s.pipeline]
        plan = self._publish(choice.winner, choice.prediction, max(existing, default=0) + 1)
        self._observer = Observer(
            self.kafka, MetricsTail(self.kafka, plan.topics.metrics), window_s=self.s.interval_s * 2
        )
        return plan

    def step(self) -> list[Event]:
        assert self.plan and self.predicted and self._rebalancer and self._observer
        before = len(self.events)
        profiles = self._profiles()
        obs = self._observer.observe(
            self.plan, self.predicted, profiles, self.replicas, self.s.chain
        )
        env = self._rebalancer.environment(obs)
        now_pred = predict(self._rebalancer.current, env)
        self._emit(
            "observed",
            self.plan.version,
            f"limited by {now_pred.bottleneck}",
            {
                **{f"uplink_{t}_bps": round(b) for t, b in obs.uplink_bps.items()},
                "predicted_fps_now": round(now_pred.throughput_fps, 2),
                **{f"lag_{i}": n for i, n in self._observer.last.get("lag", {}).items()},
                **{f"status_{i}": s for i, s in obs.lag_status.items()},
                **{f"util_{i}": round(u, 3) for i, u in obs.utilization.items()},
            },
        )
        for decision in self._rebalancer.decide(obs):
            if isinstance(decision, Replan):
                self._emit("decided", self.plan.version, decision.reason)
                old = self.plan
                self._publish(decision.candidate, decision.predicted, old.version + 1)
                self._draining.append(_Draining(old, time.time()))
                self._observer.forget(old)
            elif self.s.scale:
                self.replicas[decision.stage] = decision.replicas
                control.set_replicas(
                    self.kafka, self.plan.pipeline, self.plan.version, self.replicas
                )
                self._emit(
                    "scaled",
                    self.plan.version,
                    f"stage {decision.stage} -> {decision.replicas} replicas: {decision.reason}",
                    {"stage": decision.stage, "replicas": decision.replicas},
                )
            else:
                continue
            self._rebalancer.applied(decision, time.time())
        self._retire_drained()
        return self.events[before:]

    def close(self) -> None:
        if self._observer is not None:
            self._observer.close()

    # --- actions ------------------------------------------------------------------------

    def _publish(self, cand: Candidate, pred: Prediction, version: int) -> Plan:
        path = self.s.workdir / f"{self.s.pipeline}-v{version}" / "plan.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        plan = build_plan(
            model_name=self.s.model,
            onnx_path=self.s.onnx,
            cut_specs=[str(c) for c in cand.cuts],
            out=path,
            encodings=list(cand.encodings) or ["raw"],
            tiers=list(cand.tiers),
            pipeline=self.s.pipeline,
            version=version,
            batch=BatchPolicy(max_size=self.s.batch, max_wait_ms=5.0),
            partitions=self.s.partitions,
            classes=self.s.classes,
            predicted=auto.predicted_figures(pred),
            delivery=self.s.delivery,
        )
        control.publish_plan(self.kafka, path)
        self.plan, self.predicted = plan, pred
        self.replicas = {s.index: 1 for s in plan.stages}
        self._emit(
            "published",
            version,
            cand.describe(),
            {"predicted_fps": round(pred.throughput_fps, 2), "bottleneck": pred.bottleneck},
        )
        return plan

    def _retire_drained(self) -> None:
        """Retire an old version once its frames topic stopped growing and it has drained."""
        keep = []
        for d in self._draining:
            end = sum(end_offsets(self.kafka, d.plan.topics.frames).values())
            settled = end == d.frames_end and time.time() - d.since >= self.s.interval_s
            d.frames_end = end
            if settled and control.drained(self.kafka, d.plan):
                control.retire(self.kafka, d.plan.pipeline, d.plan.version)
                self._emit("retired", d.plan.version, "drained: every frame answered")
            else:
                keep.append(d)
        self._draining = keep

    # --- inputs -------------------------------------------------------------------------

    def _profiles(self) -> dict[str, TierProfile]:
        profiles = dict(self.s.profile_files)
        if len(profiles) < len(self.s.chain):
            topic = read_profiles(self.kafka, self.s.model)
            profiles = {**topic, **profiles}
        return {t: p for t, p in profiles.items() if t in self.s.chain}

    def _emit(
        self, kind: str, version: int, detail: str, figures: Mapping[str, Any] | None = None
    ) -> None:
        event = Event(time.time(), kind, version, detail, dict(figures or {}))
        self.events.append(event)
        if kind != "observed":
            log.info(f"plan_{kind}", version=version, detail=detail, **(figures or {}))
        self._on_event(event)


def timeline_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [
        {"at": round(e.at, 3), "kind": e.kind, "version": e.version, "detail": e.detail}
        | dict(e.figures)
        for e in events
    ]
