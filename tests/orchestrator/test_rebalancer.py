"""The rebalancer's decisions on synthetic profiles: re-split with hysteresis, scale."""

from __future__ import annotations

from edgesplit.orchestrator.costmodel import Candidate
from edgesplit.orchestrator.planner import Constraints, best
from edgesplit.orchestrator.rebalancer import Observation, Rebalancer, Replan, Scale
from tests.orchestrator.synthetic import env_of

UNIT = [2.0] * 6
SIZES = [600_000, 400_000, 5_000, 300_000, 1_000]  # bytes after nodes 1..5
CUTS = [1, 2, 3, 4, 5]


def rebalancer_at(uplink: float, *, sustain: int = 3, cooldown_s: float = 30.0) -> Rebalancer:
    env = env_of(UNIT, SIZES, edge_speed=0.5, uplink=uplink)
    cons = Constraints(max_stages=2)
    current, _ = best(env, cons, CUTS, "throughput")
    return Rebalancer(
        env,
        cons,
        "throughput",
        current,
        tier_cpu_need={"cloud": 1.0},
        sustain=sustain,
        cooldown_s=cooldown_s,
    )


def test_a_link_drop_re_splits_after_sustained_evidence_only() -> None:
    r = rebalancer_at(1e9, sustain=3, cooldown_s=0)
    start = r.current
    assert start.tiers == ("cloud",)  # a fast link: ship frames to the fast cloud
    slow = {"edge": 5e6}
    assert r.decide(Observation(1, slow)) == []
    assert r.decide(Observation(2, slow)) == []
    decisions = r.decide(Observation(3, slow))
    assert len(decisions) == 1 and isinstance(decisions[0], Replan)
    replan = decisions[0]
    assert replan.candidate.tiers == ("edge", "cloud") and replan.candidate.cuts == (3,)
    assert replan.predicted.throughput_fps > 1.3 * replan.current.throughput_fps
    assert "predicted" in replan.reason
    r.applied(replan, 3)
    assert r.decide(Observation(4, slow)) == []  # settled: nothing better now


def test_noise_does_not_flap_and_cooldown_holds() -> None:
    r = rebalancer_at(1e9, sustain=2, cooldown_s=100)
    for t, uplink in enumerate([5e6, 1e9, 5e6, 1e9]):  # never sustained
        assert r.decide(Observation(t, {"edge": uplink})) == []
    r.applied(Scale(0, 1, "x"), 10)
    for t in range(11, 15):  # sustained, but inside the cooldown
        assert r.decide(Observation(t, {"edge": 5e6})) == []
    assert r.decide(Observation(200, {"edge": 5e6}))


def test_a_slower_tier_than_profiled_moves_work_away_from_it() -> None:
    # 50 Mbit/s: cut 3 beats cloud-only (frames at ~41/s) while the edge computes as
    # profiled; an edge 8x slower than its profile makes cloud-only the better plan.
    r = rebalancer_at(5e7, sustain=1, cooldown_s=0)
    assert r.current.tiers == ("edge", "cloud")
    assert r.decide(Observation(1, {"edge": 5e7})) == []
    decisions = r.decide(Observation(2, {"edge": 5e7}, compute_scale={"edge": 8.0}))
    assert decisions and isinstance(decisions[0], Replan)
    assert decisions[0].candidate.tiers == ("cloud",)


def test_scale_up_a_busy_lagging_stage_when_its_tier_has_room() -> None:
    r = rebalancer_at(5e6, cooldown_s=0)
    r.current = Candidate((3,), ("raw",), ("edge", "cloud"))
    busy = Observation(
        1,
        {"edge": 5e6},
        lag_status={1: "WARN"},
        utilization={1: 0.95},
        replicas={1: 1},
        spare_cpus={"cloud": 1.5},
        partitions=4,
    )
    assert r.decide(busy) == [Scale(1, 2, r.decide(busy)[0].reason)]
    no_room = Observation(
        2,
        {"edge": 5e6},
        lag_status={1: "WARN"},
        utilization={1: 0.95},
        replicas={1: 1},
        spare_cpus={"cloud": 0.2},
        partitions=4,
    )
    assert r.decide(no_room) == []
    no_partition = Observation(
        3,
        {"edge": 5e6},
        lag_status={1: "STALL"},
        utilization={1: 0.95},
        replicas={1: 4},
        spare_cpus={"cloud": 4.0},
        partitions=4,
    )
    assert r.decide(no_partition) == []


def test_scale_down_an_idle_stage_after_a_while() -> None:
    r = rebalancer_at(5e6, sustain=3, cooldown_s=0)
    r.current = Candidate((3,), ("raw",), ("edge", "cloud"))
    idle = Observation(
        1, {"edge": 5e6}, lag_status={1: "OK"}, utilization={1: 0.1}, replicas={1: 2}, partitions=4
    )
    assert r.decide(idle) == []
    assert r.decide(idle) == []
    [decision] = r.decide(idle)
    assert decision == Scale(1, 1, decision.reason)
