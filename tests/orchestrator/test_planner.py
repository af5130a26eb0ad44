"""The cost model and the planner on synthetic profiles (no broker, no model)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.auto import choose, explain
from edgesplit.orchestrator.costmodel import (
    MOMENT,
    RECORD_OVERHEAD,
    RESULT_BYTES,
    WAIT_MARGIN,
    WAIT_SHARE,
    Candidate,
    Environment,
    predict,
    score,
    segment_ms,
)
from edgesplit.orchestrator.planner import TIE, Constraints, best, candidates
from edgesplit.orchestrator.profile import TransportCost
from tests.orchestrator.synthetic import env_of, with_idle


def test_a_thin_uplink_pushes_the_cut_where_activations_are_small() -> None:
    unit = [2.0] * 6
    sizes = [600_000, 400_000, 5_000, 300_000, 1_000]  # bytes after nodes 1..5
    env = env_of(unit, sizes, edge_speed=0.5, uplink=5e6)
    cand, pred = best(env, Constraints(max_stages=2), [1, 2, 3, 4, 5], "throughput")
    assert cand.cuts == (3,)  # small (5 KB), early enough to keep the slow edge's share low
    assert cand.tiers == ("edge", "cloud")
    assert pred.throughput_fps == pytest.approx(predict(cand, env).throughput_fps)
    fast = env_of(unit, sizes, edge_speed=0.5, uplink=1e12)
    cand_fast, _ = best(fast, Constraints(max_stages=2), [1, 2, 3, 4, 5], "throughput")
    assert cand_fast.tiers[0] == "cloud"  # an unlimited link: ship frames to the fast cloud


def test_lossy_encodings_only_where_they_keep_top1() -> None:
    # A slow edge (whole model: 25 frames/s), a 20 KB activation after node 1 on a 5 Mbit/s
    # link: raw 31 frames/s, int8 (5 KB) ~100 frames/s (the edge's share is then the limit).
    unit = [1.0] * 4
    sizes = [20_000, 1_000_000, 1_000_000]
    env_good = env_of(unit, sizes, 0.1, 5e6, agreement=0.995)
    env_bad = env_of(unit, sizes, 0.1, 5e6, agreement=0.9)
    cons = Constraints(max_stages=2, encodings=("raw", "int8"))
    good, good_pred = best(env_good, cons, [1, 2, 3], "throughput")
    bad, bad_pred = best(env_bad, cons, [1, 2, 3], "throughput")
    assert (good.cuts, good.encodings) == ((1,), ("int8",))
    assert (bad.cuts, bad.encodings) == ((1,), ("raw",))
    assert good_pred.throughput_fps > 2.5 * bad_pred.throughput_fps


def test_memory_limits_keep_big_stages_off_a_small_tier() -> None:
    env = env_of([1.0] * 5, [10] * 4, 1.0, 1e12)
    cons = Constraints(max_stages=2, memory={"edge": 2500})
    for cand in candidates(env, cons, [1, 2, 3, 4]):
        if cand.tiers[0] == "edge":
            assert not cand.cuts or cand.cuts[0] <= 2
    with pytest.raises(PlanningError, match="memory"):
        best(env, Constraints(max_stages=1, memory={"edge": 1, "cloud": 1}), [1, 2], "latency")


@settings(max_examples=60, deadline=None)
@given(
    unit=st.lists(st.floats(0.5, 20), min_size=2, max_size=7),
    data=st.data(),
    edge_speed=st.floats(0.1, 2.0),
    uplink=st.sampled_from([1e6, 5e6, 2e7, 1e8, math.inf]),
    objective=st.sampled_from(["throughput", "latency"]),
    stages=st.integers(1, 3),
)
def test_dynamic_program_finds_the_exhaustive_optimum(
    unit: list[float],
    data: st.DataObject,
    edge_speed: float,
    uplink: float,
    objective: str,
    stages: int,
) -> None:
    sizes = data.draw(
        st.lists(st.integers(100, 2_000_000), min_size=len(unit) - 1, max_size=len(unit) - 1)
    )
    env = env_of(unit, sizes, edge_speed, uplink, agreement=data.draw(st.sampled_from([0.9, 1.0])))
    # transport CPU (it depends on the bytes a stage receives) and a tier's CPU share
    transport = TransportCost(
        main_us_per_record=50, main_ns_per_byte=2.0, total_us_per_record=80,
        total_ns_per_byte=5.0,
    )  # fmt: skip
    env = replace(
        env,
        profiles={
            t: p.model_copy(
                update={
                    "transport": data.draw(st.sampled_from([None, transport])),
                    "cpu_share": data.draw(st.floats(0.5, 1.0)),
                    "cpus": data.draw(st.sampled_from([0.5, 1.0, 2.0])),
                }
            )
            for t, p in env.profiles.items()
        },
    )
    cons = Constraints(max_stages=stages, encodings=("raw", "int8"))
    cuts = list(range(1, len(unit)))
    dp_cand, dp_pred = best(env, cons, cuts, objective)
    every = [predict(c, env) for c in candidates(env, cons, cuts)]
    exhaustive = max(every, key=lambda p: score(p, objective))
    assert len(dp_cand.tiers) <= stages
    if objective == "latency":
        assert dp_pred.latency_ms == pytest.approx(exhaustive.latency_ms, rel=1e-9)
        return
    # of the candidates within TIE of the best throughput, the most headroom
    floor = (1 - TIE) * exhaustive.throughput_fps
    assert dp_pred.throughput_fps >= floor * (1 - 1e-9)
    within = [p for p in every if p.throughput_fps >= floor * (1 + 1e-9)]
    assert dp_pred.headroom_fps >= max(p.headroom_fps for p in within) * (1 - 1e-9)


def test_candidate_checks_itself() -> None:
    with pytest.raises(PlanningError):
        Candidate((3, 1), ("raw", "raw"), ("edge", "edge", "cloud"))
    with pytest.raises(PlanningError):
        Candidate((1,), (), ("edge", "cloud"))
    with pytest.raises(PlanningError, match="one stage per tier"):
        Candidate((1,), ("raw",), ("edge", "edge"))


RELAY = TransportCost(  # as measured on the bare relay, before the stage loop was
    main_us_per_record=100, main_ns_per_byte=1.0, total_us_per_record=200, total_ns_per_byte=1.5
)


def test_transport_cpu_counts_within_the_quota_and_beside_it_on_a_roomy_tier() -> None:
    env = env_of([4.0, 4.0, 4.0], [100_000, 100_000], 1.0, 1e12)
    cut = Candidate((1,), ("raw",), ("edge", "cloud"))
    t = RELAY

    def tiers(transport: TransportCost | None) -> Environment:
        edge = env.profiles["edge"].model_copy(update={"cpus": 0.5, "transport": transport})
        cloud = env.profiles["cloud"].model_copy(update={"cpus": 2.0, "transport": transport})
        return replace(env, profiles={"edge": edge, "cloud": cloud})

    bare, loaded = predict(cut, tiers(None)), predict(cut, tiers(t))
    assert loaded.compute_ms == bare.compute_ms  # ONNX Runtime's share is unchanged
    # edge: 150 kB in + 100 kB out; all of it (0.2 ms + 0.375 ms CPU) within half a CPU
    edge_in = 150_000 + RECORD_OVERHEAD
    assert loaded.stage_ms[0] - bare.stage_ms[0] == pytest.approx(
        (0.2 + 1.5 * (edge_in + bare.wire_bytes[0]) / 1e6) / 0.5, rel=1e-3
    )
    # cloud: 100 kB in, a result out; its own thread's share (0.1 ms + 0.1 ms) outweighs
    # all of it spread over 2 CPUs ((0.2 + 0.15) ms / 2)
    main = 0.1 + 1.0 * (bare.wire_bytes[0] + RESULT_BYTES) / 1e6
    assert loaded.stage_ms[1] - bare.stage_ms[1] == pytest.approx(main, rel=1e-3)


def test_a_loop_measured_transport_cost_holds_the_raw_codec_once() -> None:
    """Measured on the stage loop, the transport figures hold the raw codec already: the
    cost model charges it on top only for a profile measured on the older bare relay."""
    env = env_of([4.0, 4.0, 4.0], [100_000, 100_000], 1.0, 1e12)
    cut = Candidate((1,), ("raw",), ("edge", "cloud"))
    relay, loop = RELAY, RELAY.model_copy(update={"codec_included": True})

    def edge_ms(t: TransportCost) -> float:
        edge = env.profiles["edge"].model_copy(update={"cpus": 0.5, "transport": t})
        return predict(cut, replace(env, profiles={**env.profiles, "edge": edge})).stage_ms[0]

    wire = 100_000 + RECORD_OVERHEAD
    raw_codec_ms = (0.1 + 0.1) * wire / 1e6  # the synthetic profile's raw codec, both ends
    assert edge_ms(relay) - edge_ms(loop) == pytest.approx(raw_codec_ms / 0.5, rel=1e-6)


def test_a_near_tie_goes_to_the_plan_with_cpu_to_spare() -> None:
    """An edge-bound cut predicted 1% faster than a link-bound one is a tie: the planner
    takes the link-bound cut, whose edge stage has time to spare (MobileNetV2 at 20 Mbit/s
    ran the edge-bound cut 16% under its prediction and the link-bound one at it)."""
    # nodes of 10 ms each on the edge; cut 1 carries 50 kB, cut 2 10 kB
    roomy = env_of([10.0, 10.0, 10.0], [50_000, 10_000], 1.0, 1e12)
    edge_bound = Candidate((2,), ("raw",), ("edge", "cloud"))
    link_bound = Candidate((1,), ("raw",), ("edge", "cloud"))
    edge_fps = predict(edge_bound, roomy).throughput_fps  # the edge's 20 ms of the model

    def uplink_for(share: float) -> Environment:
        """The uplink at which cut 1's records go at `share` x the edge-bound rate."""
        bps = share * edge_fps * 8 * predict(link_bound, roomy).wire_bytes[0]
        return replace(roomy, uplink_bps={"edge": bps})

    env = uplink_for(0.99)
    fast, linked = predict(edge_bound, env), predict(link_bound, env)
    assert fast.bottleneck == "stage 0 (edge)"  # the plain optimum, by 1%
    assert linked.throughput_fps == pytest.approx(0.99 * fast.throughput_fps)
    chosen, pred = best(env, Constraints(max_stages=2), [1, 2], "throughput")
    assert chosen == link_bound
    assert pred.bottleneck == "stage 0's output over edge's uplink"
    assert pred.headroom_fps > 1.5 * fast.headroom_fps
    lines = explain(choose(env, Constraints(max_stages=2), "throughput"))
    assert any(line.startswith("a near tie, broken for CPU to spare") for line in lines)
    # a clear gap is no tie: with cut 1's link 10% slower, the edge-bound cut wins
    assert best(uplink_for(0.9), Constraints(max_stages=2), [1, 2], "throughput")[0] == edge_bound


def test_a_stage_that_waits_for_its_input_is_predicted_after_idle() -> None:
    unit = [2.0] * 6
    sizes = [600_000, 400_000, 5_000, 300_000, 1_000]
    busy = env_of(unit, sizes, edge_speed=0.5, uplink=5e6)
    env = replace(busy, profiles={t: with_idle(p, 1.0) for t, p in busy.profiles.items()})
    cand = Candidate((3,), ("raw",), ("edge", "cloud"))
    before, after = predict(cand, busy), predict(cand, env)
    # The edge (12 ms a frame) sets the rate; the cloud (3 ms) waits before each batch.
    assert after.waits == (False, True) and after.bottleneck == "stage 0 (edge)"
    assert after.throughput_fps == before.throughput_fps
    assert after.compute_ms[0] == before.compute_ms[0]  # busy: back to back
    assert after.compute_ms[1] == pytest.approx(before.compute_ms[1] + 1.0 / env.batch)
    # Unloaded latency: every stage's batch of one starts after idle.
    assert after.latency_ms == pytest.approx(before.latency_ms + 2 * 1.0)
    assert 1000 / after.stage_ms[1] > WAIT_MARGIN * after.throughput_fps


def test_a_stage_idle_for_seconds_is_predicted_after_the_long_pause() -> None:
    # Cut 1: the edge 14 ms a batch of 4 busy, 15 after 20 ms, 24 after 1 s or more; the
    # cloud 8.75, 9.75 and 18.75. A stage pays WAIT_SHARE of what the long pause adds.
    def at(uplink: float) -> Environment:
        env = env_of([2.0] * 6, [600_000] * 5, edge_speed=0.5, uplink=uplink)
        edge = with_idle(env.profile("edge"), 1.0, long_ms=10.0)
        cloud = with_idle(env.profile("cloud"), 1.0, long_ms=10.0)
        return replace(env, profiles={"edge": edge, "cloud": cloud})

    cand = Candidate((1,), ("raw",), ("edge", "cloud"))
    # 5 Mbit/s carries a frame a second: both stages idle seconds before each batch of 4,
    # the edge waiting on its own uplink as much as the cloud behind it
    thin = predict(cand, at(5e6))
    assert thin.waits == (True, True) and thin.bottleneck == "stage 0's output over edge's uplink"
    assert thin.interval_s == pytest.approx((1 / thin.throughput_fps,) * 2)
    paid = WAIT_SHARE * 9.0
    assert thin.compute_ms == pytest.approx(((15.0 + paid) / 4, (9.75 + paid) / 4))
    # 1 Gbit/s: a batch every 19 ms, the cloud idles 10 ms: the figure after 20 ms
    assert predict(cand, at(1e9)).compute_ms[1] == pytest.approx(9.75 / 4)
    # a batch every half second: in between, linear in the wait
    between = predict(cand, at(8 * 8 * (600_000 + RECORD_OVERHEAD))).compute_ms[1] * 4
    assert between == pytest.approx(9.75 + paid * (0.5 - 0.00975 - 0.02) / 0.98)
    # a profile from before, without the long figure, keeps the short one
    old = env_of([2.0] * 6, [600_000] * 5, edge_speed=0.5, uplink=5e6)
    old = replace(old, profiles={t: with_idle(p, 1.0) for t, p in old.profiles.items()})
    assert predict(cand, old).compute_ms == pytest.approx((15.0 / 4, 9.75 / 4))


def test_a_middle_stage_after_idle_pays_the_idle_cost_of_the_prefix_it_ends_with() -> None:
    p = with_idle(env_of([2.0] * 6, [1_000] * 5, edge_speed=1.0, uplink=1e9).profile("edge"), 1.5)
    assert segment_ms(p, 2, 4, 1) == pytest.approx(4.0)
    assert segment_ms(p, 2, 4, 1, MOMENT) == pytest.approx(5.5)
    assert segment_ms(p, None, None, 4, MOMENT) == segment_ms(p, None, None, 4)  # no figure
    slower = p.model_copy(
        update={"cuts": tuple(c.model_copy(update={"prefix_idle_ms": {1: 0.0}}) for c in p.cuts)}
    )
    assert segment_ms(slower, None, 2, 1, MOMENT) == segment_ms(p, None, 2, 1)  # never faster
