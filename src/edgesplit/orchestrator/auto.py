"""`plan auto`: profiles + tiers + objective -> the plan the cost model predicts is best.

The planner searches the single-tensor cuts every tier has profiled. It explains its
choice: the best candidates with their predicted figures, what limits each, a near tie it
broke for headroom, and by how much the winner beats edge-only and cloud-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.costmodel import Candidate, Environment, Prediction, predict, rank
from edgesplit.orchestrator.planner import TIE, Constraints, best, candidates
from edgesplit.orchestrator.profile import TierProfile


@dataclass(frozen=True)
class Choice:
    winner: Candidate
    prediction: Prediction
    ranked: tuple[tuple[Candidate, Prediction], ...]  # best first (for --explain)
    objective: str
    env: Environment


def environment(
    profiles: Mapping[str, TierProfile],
    chain: Sequence[str],
    uplinks: Mapping[str, float] | None = None,
    batch: int = 4,
) -> Environment:
    """The planner's view: each tier's profile, its uplink (measured, unless overridden)."""
    missing = [t for t in chain if t not in profiles]
    if missing:
        raise PlanningError(
            f"no profile for tier(s) {', '.join(missing)}: run `edgesplit "
            "profile MODEL --tier TIER` on each tier first"
        )
    models = {p.model for p in profiles.values()}
    if len(models) > 1:
        raise PlanningError(f"the profiles are of different models: {sorted(models)}")
    measured = {t: p.link.uplink_bps for t, p in profiles.items() if p.link is not None}
    return Environment(
        profiles=dict(profiles),
        uplink_bps={**measured, **(uplinks or {})},
        chain=tuple(chain),
        batch=batch,
    )


def common_cuts(env: Environment) -> list[int]:
    sets = [{c.index for c in env.profile(t).cuts} for t in env.chain]
    return sorted(set.intersection(*sets)) if sets else []


def choose(env: Environment, cons: Constraints, objective: str, top: int = 8) -> Choice:
    cuts = common_cuts(env)
    winner, prediction = best(env, cons, cuts, objective)
    ranked = rank(list(candidates(env, cons, cuts)), env, objective)[:top]
    return Choice(winner, prediction, tuple(ranked), objective, env)


def explain(choice: Choice) -> list[str]:
    """Why the winner won, in a few lines."""
    env, objective = choice.env, choice.objective
    lines = [
        f"objective: {objective}; tiers {' -> '.join(env.chain)}; uplinks "
        + ", ".join(
            f"{t} {env.uplink(t) / 1e6:g} Mbit/s"
            for t in env.chain
            if env.uplink(t) != float("inf")
        )
        + f"; batch {env.batch}"
    ]
    p = choice.prediction
    lines.append(
        f"chosen: {choice.winner.describe()}: {p.throughput_fps:.1f} frames/s, "
        f"{p.latency_ms:.1f} ms; limited by {p.bottleneck}"
    )
    if choice.ranked and objective == "throughput":
        top, top_p = choice.ranked[0]
        if top_p.throughput_fps > p.throughput_fps:
            lines.append(
                f"a near tie, broken for CPU to spare: {top.describe()} is predicted "
                f"{top_p.throughput_fps:.1f} frames/s (within {TIE:.0%}), but its slowest "
                f"stage could do only {top_p.headroom_fps:.1f}, the chosen plan's "
                f"{p.headroom_fps:.1f}"
            )
    for name, tiers in (("edge-only", (env.chain[0],)), ("cloud-only", (env.chain[-1],))):
        ref = predict(Candidate((), (), tiers), env)
        gain = (
            p.throughput_fps / ref.throughput_fps
            if objective == "throughput"
            else ref.latency_ms / p.latency_ms
        )
        lines.append(
            f"vs {name}: {ref.throughput_fps:.1f} frames/s, {ref.latency_ms:.1f} ms "
            f"({gain:.2f}x {'faster' if objective == 'throughput' else 'quicker'}); "
            f"limited by {ref.bottleneck}"
        )
    return lines


def predicted_figures(p: Prediction) -> dict[str, float]:
    """What goes into the plan's `predicted` field."""
    out = {"throughput_fps": round(p.throughput_fps, 3), "latency_ms": round(p.latency_ms, 3)}
    for i, ms in enumerate(p.compute_ms):
        out[f"stage{i}_compute_ms"] = round(ms, 3)
    return out
