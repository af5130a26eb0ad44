"""Statuses end to end: real groups on the real broker, judged with short windows."""

from __future__ import annotations

import re
import threading
import time

import pytest

from edgesplit.config import KafkaSettings
from edgesplit.consumers.lagmonitor import LagMonitor, LagSnapshot, LagTargets
from edgesplit.consumers.lagstatus import LagRules, Status
from edgesplit.errors import BrokerUnreachableError, ConfigError
from edgesplit.orchestrator.plan import Plan, StagePlan
from tests.consumers.test_lag import commit, make_topic, produce_at

pytestmark = pytest.mark.kafka

FAST = LagRules(window=3, stop_after_s=2.0)
UNREACHABLE = KafkaSettings("127.0.0.1:9")


def now_ms() -> int:
    return int(time.time() * 1000)


def only(snap: LagSnapshot) -> tuple[Status, str]:
    (report,) = snap.groups
    return report.status.status, report.status.rule


def test_stuck_group_is_stall_then_stop(kafka: KafkaSettings, unique: str) -> None:
    topic = make_topic(kafka, f"mon-stall-{unique}")
    group = f"mon-stall-{unique}"
    produce_at(kafka, topic, [now_ms()] * 10)
    commit(kafka, group, {(topic, 0): 2})
    with LagMonitor(kafka, LagTargets.named((group,)), FAST) as monitor:
        snaps = list(monitor.every(0.2, count=3))
        assert [only(s)[0] for s in snaps] == [Status.OK, Status.OK, Status.STALL]
        assert re.fullmatch(
            rf"STALL: committed offset of {topic}\[0\] unchanged at 2 over 3 observations "
            r"\([01] s\) while lag is 8",
            only(snaps[-1])[1],
        )
        first_seen = snaps[0].groups[0].status.at  # when the monitor first saw offset 2
        time.sleep(max(first_seen + FAST.stop_after_s - time.time(), 0) + 0.05)
        status, rule = only(monitor.poll())
    assert status == Status.STOP
    # 2 s and a little, or 3 s where the poll itself was slow (a CI run: "for 3 s")
    assert re.match(
        rf"STOP: no new commit on {topic}\[0\] for [23] s \(offset 2\) while lag is 8", rule
    )


def test_committing_group_is_ok_and_one_falling_behind_is_warn(
    kafka: KafkaSettings, unique: str
) -> None:
    topic = make_topic(kafka, f"mon-ok-{unique}", partitions=2)
    steady, behind = f"mon-ok-{unique}", f"mon-warn-{unique}"
    produce_at(kafka, topic, [now_ms()] * 5)
    targets = LagTargets.named((steady, behind))
    end = 5
    committed = {steady: 0, behind: 0}
    kinds: list[dict[str, Status]] = []
    with LagMonitor(kafka, targets, FAST) as monitor:
        for _ in range(4):
            # steady commits everything but the last 5 records; behind commits 2 per step
            produce_at(kafka, topic, [now_ms()] * 5)
            end += 5
            committed = {steady: end - 5, behind: committed[behind] + 2}
            for group, offset in committed.items():
                commit(kafka, group, {(topic, 0): offset, (topic, 1): 0})
            snap = monitor.poll()
            kinds.append({r.status.group: r.status.status for r in snap.groups})
    assert [k[steady] for k in kinds] == [Status.OK] * 4
    assert [k[behind] for k in kinds] == [Status.OK, Status.OK, Status.WARN, Status.WARN]
    rules = {r.status.group: r.status.rule for r in snap.groups}
    assert rules[steady].startswith(f"OK: lag 5 on {topic}[0], commits moving (+10 over 3 obs")
    assert rules[behind].startswith(f"WARN: lag of {topic}[0] grew at every step (11 -> 17)")


def test_missing_group_and_unreachable_broker_are_err(kafka: KafkaSettings, unique: str) -> None:
    ghost = f"mon-ghost-{unique}"
    with LagMonitor(kafka, LagTargets.named((ghost,)), FAST) as monitor:
        assert only(monitor.poll()) == (
            Status.ERR,
            f"ERR: no consumer group {ghost!r} (no members, no committed offsets)",
        )
        with pytest.raises(ConfigError, match=f"no consumer group {ghost!r} at "):
            monitor.poll(strict=True)

    with LagMonitor(UNREACHABLE, LagTargets.named((ghost,)), FAST, timeout_s=2) as monitor:
        snap = monitor.poll()
        (report,) = snap.groups
        assert report.lag is None and report.status.status == Status.ERR
        assert report.status.rule.startswith("ERR: no Kafka broker answered at 127.0.0.1:9")
        assert snap.error is not None
        with pytest.raises(BrokerUnreachableError):
            monitor.poll(strict=True)


def test_prefix_finds_groups_as_they_come(kafka: KafkaSettings, unique: str) -> None:
    topic = make_topic(kafka, f"mon-pfx-{unique}")
    produce_at(kafka, topic, [now_ms()])
    prefix = f"mon-pfx-{unique}."
    with LagMonitor(kafka, LagTargets.with_prefix(prefix), FAST) as monitor:
        with pytest.raises(ConfigError, match="starts with"):
            monitor.poll(strict=True)
        assert monitor.poll().groups == ()
        commit(kafka, prefix + "b", {(topic, 0): 1})
        commit(kafka, prefix + "a", {(topic, 0): 0})
        commit(kafka, f"mon-other-{unique}", {(topic, 0): 0})
        snap = monitor.poll(strict=True)
    assert [r.status.group for r in snap.groups] == [prefix + "a", prefix + "b"]
    assert [r.lag.total_lag for r in snap.groups if r.lag] == [1, 0]


def stage_plan(pipeline: str, version: int, inputs: list[str]) -> Plan:
    """A plan reduced to what the lag monitor reads (its pipeline, version and stage inputs);
    a full one needs an exported model and would tie this test to every plan field."""
    stages = tuple(
        StagePlan.model_construct(index=i, input_topic=topic) for i, topic in enumerate(inputs)
    )
    return Plan.model_construct(pipeline=pipeline, version=version, stages=stages)


def test_a_plans_stage_groups(kafka: KafkaSettings, unique: str) -> None:
    frames = make_topic(kafka, f"mon-frames-{unique}", partitions=2)
    produce_at(kafka, frames, [now_ms()] * 3, partition=1)
    plan = stage_plan(f"p{unique}", 3, [frames])
    targets = LagTargets.of_plan(plan)
    assert targets.groups == (f"edgesplit.p{unique}.v3.stage-0",)
    with LagMonitor(kafka, targets, FAST) as monitor:
        snap = monitor.poll(strict=True)  # a stage not running yet: an ERR row, not an error
        (report,) = snap.groups
        assert report.status.status == Status.ERR
        assert report.lag is not None
        assert [(p.partition, p.committed, p.lag) for p in report.lag.partitions] == [
            (0, None, 0),
            (1, None, 3),
        ]
        commit(kafka, plan.group_id(0), {(frames, 0): 0, (frames, 1): 1})
        assert only(monitor.poll())[0] == Status.OK


def test_watching_ends_when_stopped_and_a_stop_cuts_the_wait_short(
    kafka: KafkaSettings, unique: str
) -> None:
    group = f"mon-stop-{unique}"
    with LagMonitor(kafka, LagTargets.named((group,)), FAST) as monitor:
        stop = threading.Event()
        snaps = monitor.every(30.0, stop=stop)
        assert next(snaps).groups[0].status.group == group  # the first poll at once
        threading.Timer(0.2, stop.set).start()  # as Ctrl-C does, during the 30 s wait
        began = time.monotonic()
        assert list(snaps) == []
        assert time.monotonic() - began < 5.0
