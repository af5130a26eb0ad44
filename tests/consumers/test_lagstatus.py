"""The lag evaluator's rules on synthetic observations (no broker: it is pure logic)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgesplit.consumers.lag import GroupLag, PartitionLag
from edgesplit.consumers.lagstatus import GroupStatus, LagEvaluator, LagRules, Status
from edgesplit.errors import ConfigError

RULES = LagRules(window=5, stop_after_s=60.0)
STEP = 5.0  # seconds between observations


def part(committed: int | None, lag: int, topic: str = "t", partition: int = 0) -> PartitionLag:
    end = (committed or 0) + lag
    return PartitionLag(topic, partition, committed, end, lag, 0.0 if lag == 0 else 1.0, None)


def obs(at: float, *parts: PartitionLag, members: int = 1, state: str = "STABLE") -> GroupLag:
    return GroupLag.of("g", state, members, parts, at)


def feed(
    series: Sequence[tuple[int | None, int]], rules: LagRules = RULES, step: float = STEP
) -> list[GroupStatus]:
    """Statuses after each (committed, lag) observation of one partition."""
    ev = LagEvaluator(rules)
    return [ev.observe(obs(i * step, part(c, lag))) for i, (c, lag) in enumerate(series)]


def test_ok_while_committing_with_bounded_lag() -> None:
    # commits advance every poll, lag wobbles between 3 and 9: a healthy, busy consumer
    series = [(100 * i, 3 + 6 * (i % 2)) for i in range(12)]
    statuses = feed(series)
    assert {s.status for s in statuses} == {Status.OK}
    assert statuses[-1].rule.startswith("OK: lag 9 on t[0], commits moving (+400 over 5")


def test_ok_with_constant_lag_and_moving_commits() -> None:
    assert feed([(10 * i, 7) for i in range(8)])[-1].status == Status.OK


def test_warn_when_lag_grows_at_every_step_while_commits_advance() -> None:
    statuses = feed([(10 * i, 5 + 3 * i) for i in range(6)])
    assert [s.status for s in statuses] == [Status.OK] * 4 + [Status.WARN] * 2
    assert statuses[-1].rule == (
        "WARN: lag of t[0] grew at every step (8 -> 20) over 5 observations (20 s) "
        "while commits advanced 40"
    )
    assert statuses[0].rule == "OK: lag 5 on t[0]; 1 of 5 observations, no trend yet"


def test_no_warn_when_lag_dips_once() -> None:
    lags = [5, 8, 11, 10, 14, 17]
    assert feed([(10 * i, lag) for i, lag in enumerate(lags)])[-1].status == Status.OK


def test_stall_when_commits_stick_while_lag_is_positive() -> None:
    statuses = feed([(1200, 300 + 10 * i) for i in range(5)])
    assert [s.status for s in statuses] == [Status.OK] * 4 + [Status.STALL]
    assert statuses[-1].rule == (
        "STALL: committed offset of t[0] unchanged at 1200 over 5 observations (20 s) "
        "while lag is 340"
    )


def test_stall_turns_stop_after_the_threshold() -> None:
    # 5 s apart: lag > 0 since t=0, so at t=60 nothing was committed for 60 s
    statuses = feed([(1200, 340)] * 14)
    kinds = [s.status for s in statuses]
    assert kinds[:4] == [Status.OK] * 4
    assert kinds[4:12] == [Status.STALL] * 8  # t = 20 .. 55
    assert kinds[12:] == [Status.STOP] * 2  # t = 60, 65
    assert statuses[12].rule == (
        "STOP: no new commit on t[0] for 60 s (offset 1200) while lag is 340 "
        "(records waiting for 60 s, threshold 60 s)"
    )


def test_stop_fires_before_a_window_is_full() -> None:
    rules = LagRules(window=5, stop_after_s=10.0)
    statuses = feed([(50, 3)] * 3, rules=rules, step=10.0)  # t = 0, 10, 20
    assert [s.status for s in statuses] == [Status.OK, Status.STOP, Status.STOP]


def test_idle_caught_up_consumer_is_ok_and_new_records_restart_the_clock() -> None:
    # caught up for 10 minutes on an idle topic, then 2 records arrive: not STOP at once
    series = [(500, 0)] * 120 + [(500, 2)] * 12
    statuses = feed(series)
    assert {s.status for s in statuses[:120]} == {Status.OK}
    assert statuses[120].rule == "OK: lag 2 on t[0], caught up within the window"
    assert statuses[123].status == Status.OK  # a zero still in the window (Burrow's rule 1)
    assert statuses[124].status == Status.STALL  # t = 620: window all > 0, commits stuck
    assert statuses[131].status == Status.STALL  # waiting 55 s
    # records waited 60 s at t = 660: one observation more would be STOP
    ev = LagEvaluator(RULES)
    for i, (c, lag) in enumerate([*series, (500, 2)]):
        last = ev.observe(obs(i * STEP, part(c, lag)))
    assert last.status == Status.STOP


def test_caught_up_now_is_ok() -> None:
    statuses = feed([(100, 40), (100, 40), (100, 40), (100, 40), (140, 0)])
    assert statuses[-1].status == Status.OK
    assert statuses[-1].rule == "OK: t[0] caught up at offset 140"


def test_a_commit_restarts_the_stop_clock() -> None:
    rules = LagRules(window=3, stop_after_s=12.0)
    series = [(0, 5), (0, 5), (1, 5), (1, 5), (1, 5), (1, 5)]  # t = 0 .. 25, a commit at t=10
    kinds = [s.status for s in feed(series, rules=rules)]
    assert kinds == [Status.OK] * 4 + [Status.STALL, Status.STOP]  # without it: STOP at t=15


def test_missing_group_is_err() -> None:
    ev = LagEvaluator()
    dead = ev.observe(obs(0.0, members=0, state="DEAD"))
    assert dead.status == Status.ERR
    assert dead.rule == "ERR: no consumer group 'g' (no members, no committed offsets)"
    empty = ev.observe(obs(1.0, part(None, 12), members=0, state="EMPTY"))
    assert empty.status == Status.ERR
    assert empty.rule == "ERR: group 'g' (EMPTY, 0 members) has no committed offsets"


def test_members_without_commits_are_judged_on_lag() -> None:
    statuses = feed([(None, 10)] * 5)
    assert statuses[-1].status == Status.STALL
    assert "unchanged at none" in statuses[-1].rule


def test_unreachable_broker_is_err() -> None:
    status = LagEvaluator().unreachable("g", "no Kafka broker answered at 127.0.0.1:9", 5.0)
    assert (status.status, status.rule) == (
        Status.ERR,
        "ERR: no Kafka broker answered at 127.0.0.1:9",
    )


def test_group_takes_its_worst_partition() -> None:
    ev = LagEvaluator(LagRules(window=3, stop_after_s=100.0))
    for i in range(3):
        status = ev.observe(
            obs(
                i * STEP,
                part(100 * i, 2, partition=0),  # fine
                part(7, 50, partition=1),  # stuck
                part(9, 20, partition=2),  # stuck, smaller lag
            )
        )
    assert status.status == Status.STALL
    assert status.rule.startswith("STALL: committed offset of t[1] unchanged at 7")
    assert status.rule.endswith("while lag is 50 (and 1 more partition STALL)")
    assert [p.status for p in status.partitions] == [Status.OK, Status.STALL, Status.STALL]


def test_a_partition_that_comes_back_starts_a_new_window() -> None:
    ev = LagEvaluator(LagRules(window=3, stop_after_s=100.0))
    for i in range(3):
        ev.observe(obs(i * STEP, part(7, 50)))
    ev.observe(obs(15.0, part(0, 0, topic="other")))  # t[0] left the group's view
    assert ev.observe(obs(20.0, part(7, 50))).status == Status.OK  # 1 of 3 again


def test_no_partitions_yet_is_ok() -> None:
    status = LagEvaluator().observe(obs(0.0, members=2))
    assert status.status == Status.OK
    assert status.rule == "OK: 2 members, no partitions assigned or committed yet"


@pytest.mark.parametrize(("window", "stop"), [(1, 60.0), (0, 60.0), (5, 0.0), (5, -1.0)])
def test_bad_rules_are_config_errors(window: int, stop: float) -> None:
    with pytest.raises(ConfigError):
        LagRules(window=window, stop_after_s=stop)


# --- properties ---------------------------------------------------------------------

points = st.tuples(st.integers(0, 10_000), st.integers(0, 1_000))
series_st = st.lists(points, min_size=1, max_size=30)


@given(series_st)
def test_caught_up_now_is_always_ok(series: list[tuple[int, int]]) -> None:
    *head, (c, _) = series
    assert feed([*head, (c, 0)])[-1].status == Status.OK


@given(st.lists(points, min_size=1, max_size=4))
def test_no_trend_before_the_window_fills(series: list[tuple[int, int]]) -> None:
    # 4 observations 5 s apart: too few for STALL or WARN, too short for STOP
    assert {s.status for s in feed(series)} == {Status.OK}


@given(st.integers(0, 10_000), st.lists(st.integers(1, 1_000), min_size=5, max_size=11))
def test_stuck_commits_with_lag_are_stall_then_stop(committed: int, lags: list[int]) -> None:
    lags.sort()  # at a fixed committed offset the lag can only grow
    status = feed([(committed, lag) for lag in lags])[-1]
    at = (len(lags) - 1) * STEP
    assert status.status == (Status.STOP if at >= RULES.stop_after_s else Status.STALL)


@given(
    st.lists(st.integers(1, 500), min_size=5, max_size=5),
    st.lists(st.integers(1, 500), min_size=5, max_size=5),
)
def test_growing_lag_with_advancing_commits_is_warn(moves: list[int], growth: list[int]) -> None:
    committed = [sum(moves[: i + 1]) for i in range(5)]
    lags = [sum(growth[: i + 1]) for i in range(5)]
    assert feed(list(zip(committed, lags, strict=True)))[-1].status == Status.WARN


@given(series_st, st.integers(0, 4))
def test_a_zero_in_the_window_means_ok(series: list[tuple[int, int]], back: int) -> None:
    # a caught-up observation also restarts the STOP clock, so a window this short never stops
    i = max(len(series) - 1 - back, 0)
    series[i] = (series[i][0], 0)
    assert feed(series)[-1].status == Status.OK


@given(st.lists(st.tuples(series_st, st.sampled_from(["a", "b"])), min_size=1, max_size=3))
@example(parts=[([(0, 0)] * 5, "b"), ([(0, 1)] * 5, "a")])  # topics out of sorted order
def test_group_status_is_the_worst_of_its_partitions_judged_alone(
    parts: list[tuple[list[tuple[int, int]], str]],
) -> None:
    n = min(len(s) for s, _ in parts)
    together = LagEvaluator(RULES)
    alone = [LagEvaluator(RULES) for _ in parts]
    for i in range(n):
        at = i * STEP
        group = together.observe(
            obs(at, *(part(*s[i], topic=t, partition=k) for k, (s, t) in enumerate(parts)))
        )
        singles = [
            ev.observe(obs(at, part(*s[i], topic=t, partition=k)))
            for ev, (k, (s, t)) in zip(alone, enumerate(parts), strict=True)
        ]
        assert group.status == max((s.status for s in singles), key=lambda s: s.severity)
        # the group lists its partitions sorted by (topic, partition), not in input order
        assert {(p.topic, p.partition): p.status for p in group.partitions} == {
            (t, k): s.status for s, (k, (_, t)) in zip(singles, enumerate(parts), strict=True)
        }


@given(series_st, st.floats(-1e9, 1e9))
def test_statuses_do_not_depend_on_the_clock_origin(
    series: list[tuple[int, int]], origin: float
) -> None:
    a, b = LagEvaluator(RULES), LagEvaluator(RULES)
    for i, (c, lag) in enumerate(series):
        sa = a.observe(obs(i * STEP, part(c, lag)))
        sb = b.observe(obs(origin + i * STEP, part(c, lag)))
        assert sa.status == sb.status
