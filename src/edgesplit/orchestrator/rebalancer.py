"""The rebalancer's decisions: when to re-split, when to add or remove a replica.

It sees the world through observations (the tiers' measured uplinks, how fast stages
really compute compared with their profiles, each stage's lag status and utilization,
spare CPUs per tier) and answers with decisions; acting on them (publishing a plan,
changing replicas) is the orchestrator's job. Pure logic: tested without Kafka.

- re-split: another plan is predicted to be clearly better (by `gain`, e.g. 1.3x the
  current plan's throughput under the same observed conditions) in `sustain` observations
  in a row, and the last change is at least `cooldown_s` old: hysteresis, so a noisy
  measurement does not flap plans;
- scale up: a stage is busy (utilization >= `busy`) and its lag grows (WARN/STALL), its
  tier has a spare CPU share for one more replica, and its input has a partition to spare;
- scale down: a stage is caught up (lag status OK) and idle (utilization < `idle`) with
  more than one replica, in `sustain` observations in a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from edgesplit.orchestrator.costmodel import Candidate, Environment, Prediction, predict
from edgesplit.orchestrator.planner import Constraints, best
from edgesplit.orchestrator.profile import BUSY, TIMES, CutCost, TierProfile


@dataclass(frozen=True)
class Observation:
    at: float
    uplink_bps: Mapping[str, float]  # tier -> measured now
    compute_scale: Mapping[str, float] = field(default_factory=dict)  # tier -> measured/profiled
    lag_status: Mapping[int, str] = field(default_factory=dict)  # stage -> OK/WARN/STALL/STOP/ERR
    utilization: Mapping[int, float] = field(default_factory=dict)  # stage -> compute share
    replicas: Mapping[int, int] = field(default_factory=dict)
    spare_cpus: Mapping[str, float] = field(default_factory=dict)  # tier -> CPUs unused
    partitions: int = 1


@dataclass(frozen=True)
class Replan:
    candidate: Candidate
    predicted: Prediction
    current: Prediction
    reason: str


@dataclass(frozen=True)
class Scale:
    stage: int
    replicas: int
    reason: str


Decision = Replan | Scale


def scaled(profile: TierProfile, factor: float, *, busy_only: bool = False) -> TierProfile:
    """The profile with every compute time multiplied by `factor` (a tier slower than
    profiled: CPU contention, a smaller quota), or with `busy_only` its busy figures alone
    (a factor measured on a busy stage: a run after idle keeps its own figure, floored at
    the busy one, `CutCost.prefix`)."""
    if factor == 1.0:
        return profile

    def times(t: dict[int, float]) -> dict[int, float]:
        return {b: ms * factor for b, ms in t.items()}

    names = BUSY if busy_only else TIMES
    cuts: tuple[CutCost, ...] = tuple(c.map_times(times, names) for c in profile.cuts)
    return profile.model_copy(update={"whole_ms": times(profile.whole_ms), "cuts": cuts})


@dataclass
class Rebalancer:
    base: Environment
    constraints: Constraints
    objective: str
    current: Candidate
    tier_cpu_need: Mapping[str, float] = field(default_factory=dict)  # tier -> CPU per replica
    gain: float = 1.3
    sustain: int = 3
    cooldown_s: float = 30.0
    busy: float = 0.8
    idle: float = 0.3
    _streak: int = 0
    _idle_streak: dict[int, int] = field(default_factory=dict)
    _last_change: float = float("-inf")

    def environment(self, obs: Observation) -> Environment:
        profiles = {
            t: scaled(p, obs.compute_scale.get(t, 1.0)) for t, p in self.base.profiles.items()
        }
        uplinks = {**self.base.uplink_bps, **obs.uplink_bps}
        return replace(self.base, profiles=profiles, uplink_bps=uplinks)

    def decide(self, obs: Observation) -> list[Decision]:
        decisions: list[Decision] = []
        replan = self._replan(obs)
        if replan is not None:
            decisions.append(replan)
            return decisions  # a new plan comes with its own replicas: no scaling now
        decisions += self._scaling(obs)
        return decisions

    def applied(self, decision: Decision, at: float) -> None:
        """The orchestrator acted on a decision."""
        self._last_change = at
        self._streak = 0
        if isinstance(decision, Replan):
            self.current = decision.candidate
            self._idle_streak.clear()

    def _replan(self, obs: Observation) -> Replan | None:
        env = self.environment(obs)
        current = predict(self.current, env)
        cuts = sorted({c.index for c in next(iter(env.profiles.values())).cuts})
        cand, pred = best(env, self.constraints, cuts, self.objective)
        if self.objective == "throughput":
            ratio = pred.throughput_fps / max(current.throughput_fps, 1e-9)
        else:
            ratio = current.latency_ms / max(pred.latency_ms, 1e-9)
        if cand == self.current or ratio < self.gain:
            self._streak = 0
            return None
        self._streak += 1
        if self._streak < self.sustain or obs.at - self._last_change < self.cooldown_s:
            return None
        return Replan(
            cand,
            pred,
            current,
            f"{cand.describe()} is predicted {ratio:.2f}x better than "
            f"{self.current.describe()} ({pred.throughput_fps:.1f} vs "
            f"{current.throughput_fps:.1f} frames/s; now limited by "
            f"{current.bottleneck}) for {self._streak} observations",
        )

    def _scaling(self, obs: Observation) -> list[Scale]:
        out: list[Scale] = []
        if obs.at - self._last_change < self.cooldown_s:
            return out
        for stage, tier in enumerate(self.current.tiers):
            replicas = obs.replicas.get(stage, 1)
            status = obs.lag_status.get(stage, "OK")
            util = obs.utilization.get(stage, 0.0)
            need = self.tier_cpu_need.get(tier, 1.0)
            if (
                status in ("WARN", "STALL")
                and util >= self.busy
                and obs.spare_cpus.get(tier, 0.0) >= need
                and replicas < obs.partitions
            ):
                out.append(
                    Scale(
                        stage,
                        replicas + 1,
                        f"stage {stage} is {util:.0%} busy and its lag is {status}; "
                        f"{tier} has {obs.spare_cpus.get(tier, 0.0):.1f} CPUs to spare",
                    )
                )
                continue
            if status == "OK" and util < self.idle and replicas > 1:
                self._idle_streak[stage] = self._idle_streak.get(stage, 0) + 1
                if self._idle_streak[stage] >= self.sustain:
                    out.append(
                        Scale(
                            stage,
                            replicas - 1,
                            f"stage {stage} is caught up and {util:.0%} busy with "
                            f"{replicas} replicas",
                        )
                    )
                    self._idle_streak[stage] = 0
            else:
                self._idle_streak[stage] = 0
        return out
