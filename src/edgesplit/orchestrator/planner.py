"""The planner: the best split of a model over an ordered chain of tiers, exactly.

A dynamic program over (position in the cut list, tier, stages used, encoding of the cut
there): a stage runs from one position to a later one on a tier later in the chain than
the previous stage's (one stage per tier), and the encoding of the cut that ends it is
part of the choice (it sets the bytes the next stage receives, and so its transport
cost). A stage costs what `costmodel.predict` says it costs (`costmodel.stage_cost`). Both
objectives add up stage by stage (throughput as a minimum: the slowest stage or link;
latency as a sum), so the program is exact. `candidates()` enumerates the same space for
explanations and tests. Lossy encodings are offered only at cuts where the profile
measured that they keep top-1 agreement with the unsplit model at or above the threshold;
a stage whose estimated memory exceeds its tier's limit is not considered.

Throughput predictions within TIE of the best are a tie: profiles are not that exact (a
stage's measured compute wanders 10-15% from its profile on a shared host, while a shaped
link's rate holds). A second pass of the same program breaks it: among the candidates
whose every stage and link is predicted at (1 - TIE) x the best or more, it takes the one
whose slowest stage has the most CPU to spare (`headroom`). At 20 Mbit/s, MobileNetV2's
best prediction was an edge-bound cut at 47.8 frames/s; it ran at 40.1, 16% slow, while a
link-bound cut predicted at 47.3 (1% lower) ran at 47.5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.costmodel import (
    MOMENT,
    RECORD_OVERHEAD,
    Candidate,
    Environment,
    Prediction,
    predict,
    segment_ms,
    stage_cost,
    wire_bytes,
)
from edgesplit.orchestrator.profile import TierProfile

Objective = str  # "throughput" | "latency"
_State = tuple[int, int, int, str | None]  # position, tier, stages used, encoding there
TIE = 0.05  # throughput predictions this close to the best are a tie (see above)


@dataclass(frozen=True)
class _Goal:
    """What one pass of the program maximises (minimises, for latency)."""

    objective: Objective  # or "headroom": the slowest stage's own rate, links left out
    floor: float = 0.0  # headroom: a stage or link under this rate rules a candidate out


@dataclass(frozen=True)
class Constraints:
    max_stages: int = 2
    encodings: tuple[str, ...] = ("raw",)
    agreement: float = 0.99  # lossy encodings must keep at least this top-1 agreement
    memory: Mapping[str, int] = field(default_factory=dict)  # tier -> bytes


def allowed_encodings(profile: TierProfile, cut: int, constraints: Constraints) -> list[str]:
    c = profile.cut(cut)
    out = []
    for enc in constraints.encodings:
        base = enc.split("+")[0]
        if base == "raw" or c.agreement.get(base, 0.0) >= constraints.agreement:
            out.append(enc)
    return out


def _memory(p: TierProfile, start: int | None, end: int | None) -> int:
    if start is None and end is None:
        return max((c.prefix_memory + c.suffix_memory for c in p.cuts), default=0)
    if start is None:
        return p.cut(end).prefix_memory if end is not None else 0
    if end is None:
        return p.cut(start).suffix_memory
    return min(p.cut(end).prefix_memory, p.cut(start).suffix_memory)


def _fits(
    env: Environment, cons: Constraints, tier: str, start: int | None, end: int | None
) -> bool:
    limit = cons.memory.get(tier)
    return limit is None or _memory(env.profile(tier), start, end) <= limit


def candidates(env: Environment, cons: Constraints, cuts: list[int]) -> Iterator[Candidate]:
    """Every candidate the planner considers (exhaustive: for explanations and tests)."""
    for k in range(cons.max_stages):
        for chosen in itertools.combinations(cuts, k):
            for tiers in itertools.combinations(env.chain, k + 1):
                bounds: list[int | None] = [None, *chosen, None]
                if not all(
                    _fits(env, cons, t, bounds[i], bounds[i + 1]) for i, t in enumerate(tiers)
                ):
                    continue
                options = [
                    allowed_encodings(env.profile(tiers[i]), c, cons) for i, c in enumerate(chosen)
                ]
                for encs in itertools.product(*options):
                    yield Candidate(tuple(chosen), tuple(encs), tuple(tiers))


@dataclass(frozen=True)
class _Step:
    """The best way to reach (position, tier, stages, encoding) and how: for the backtrack."""

    value: float
    prev: _State | None


def best(
    env: Environment, cons: Constraints, cuts: list[int], objective: Objective
) -> tuple[Candidate, Prediction]:
    """The optimal candidate by dynamic programming; for throughput, of those within TIE
    of the optimum, the one with the most headroom."""
    if objective not in ("throughput", "latency"):
        raise PlanningError(f"unknown objective {objective!r}: throughput or latency")
    value, cand = _search(env, cons, cuts, _Goal(objective))
    if objective == "throughput" and 0 < value < math.inf:
        _, cand = _search(env, cons, cuts, _Goal("headroom", (1 - TIE) * value))
    return cand, predict(cand, env)


def _search(
    env: Environment, cons: Constraints, cuts: list[int], goal: _Goal
) -> tuple[float, Candidate]:
    positions: list[int | None] = [None, *sorted(cuts), None]  # start, cuts, end
    end = len(positions) - 1
    neutral = 0.0 if goal.objective == "latency" else math.inf
    table: dict[_State, _Step] = {(0, -1, 0, None): _Step(neutral, None)}
    for i in range(end):
        for state in sorted(
            (k for k in table if k[0] == i), key=lambda k: (k[1], k[2], k[3] or "")
        ):
            if state[2] < cons.max_stages:
                _extend(table, state, positions, env, cons, goal)
    finals = [(k, v) for k, v in table.items() if k[0] == end]
    if not finals:
        raise PlanningError(
            "no plan fits the tiers' memory limits; raise a limit or allow more stages"
        )
    pick = min if goal.objective == "latency" else max
    key, step = pick(finals, key=lambda kv: kv[1].value)
    return step.value, _backtrack(table, key, positions, env.chain)


def _extend(
    table: dict[_State, _Step],
    state: _State,
    positions: list[int | None],
    env: Environment,
    cons: Constraints,
    goal: _Goal,
) -> None:
    """Relax every next stage from `state`: its end, its tier, its encoding."""
    i, t, s, enc_in = state
    here = table[state]
    end = len(positions) - 1
    if i == 0:
        received = float(next(iter(env.profiles.values())).frame_bytes + RECORD_OVERHEAD)
    else:
        received = wire_bytes(env.profile(env.chain[t]), positions[i], enc_in or "raw")
    for j in range(i + 1, end + 1):
        if j != end and s + 1 == cons.max_stages:
            continue  # the last allowed stage must reach the end
        for t2 in range(t + 1, len(env.chain)):
            tier = env.chain[t2]
            if not _fits(env, cons, tier, positions[i], positions[j]):
                continue
            cut = positions[j]
            encs = ["raw"] if cut is None else allowed_encodings(env.profile(tier), cut, cons)
            for enc in encs:
                v = _stage_value(env, goal, positions[i], cut, tier, enc, received)
                if i == 0 and t2 > 0:  # the frames cross the camera tier's uplink
                    v = _combine(v, _frames_value(env, goal), goal)
                total = _combine(here.value, v, goal)
                key = (j, t2, s + 1, enc if cut is not None else None)
                old = table.get(key)
                if old is None or _better(total, old.value, goal):
                    table[key] = _Step(total, state)


def _combine(a: float, b: float, goal: _Goal) -> float:
    return a + b if goal.objective == "latency" else min(a, b)


def _better(a: float, b: float, goal: _Goal) -> bool:
    return a < b if goal.objective == "latency" else a > b


def _frames_value(env: Environment, goal: _Goal) -> float:
    """Frames over the camera tier's uplink: its frame rate, or the time a frame takes
    (headroom: no limit, or 0 where it rules the candidate out)."""
    frame_bytes = next(iter(env.profiles.values())).frame_bytes if env.profiles else 0
    fps = env.uplink(env.chain[0]) / (8 * (frame_bytes + RECORD_OVERHEAD))
    if goal.objective == "throughput":
        return fps
    if goal.objective == "headroom":
        return math.inf if fps >= goal.floor else 0.0
    return 1000 / fps if fps < math.inf else 0.0


def _stage_value(
    env: Environment,
    goal: _Goal,
    start: int | None,
    end: int | None,
    tier: str,
    encoding: str,
    in_bytes: float,
) -> float:
    """The stage's own contribution: its throughput limit, its headroom (its own rate,
    or 0 where it or its link falls under the floor), or its latency."""
    p = env.profile(tier)
    cost = stage_cost(p, start, end, encoding, in_bytes, env.batch)
    link_fps = env.uplink(tier) / (8 * cost.out_bytes)
    stage_fps = 1000 / cost.ms if cost.ms > 0 else math.inf
    if goal.objective == "throughput":
        return min(stage_fps, link_fps)
    if goal.objective == "headroom":
        return stage_fps if min(stage_fps, link_fps) >= goal.floor else 0.0
    hop = p.link.hop_ms if p.link else env.hop_ms
    transfer = 1000 / link_fps if link_fps < math.inf else 0.0
    return segment_ms(p, start, end, 1, MOMENT) + cost.extra_ms + hop + transfer


def _backtrack(
    table: dict[_State, _Step],
    key: _State,
    positions: list[int | None],
    chain: tuple[str, ...],
) -> Candidate:
    cuts: list[int] = []
    encs: list[str] = []
    tiers: list[str] = []
    while True:
        step = table[key]
        if step.prev is None:
            break
        j, t2 = key[0], key[1]
        tiers.append(chain[t2])
        cut = positions[j]
        if cut is not None:
            cuts.append(cut)
            encs.append(key[3] or "raw")
        key = step.prev
    return Candidate(
        tuple(reversed(cuts)),
        tuple(reversed(encs)),
        tuple(reversed(tiers)),
    )
