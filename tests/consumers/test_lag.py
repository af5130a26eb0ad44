"""Offset lag and time lag against the real broker, on topics with known record timestamps."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from edgesplit.config import KafkaSettings
from edgesplit.consumers.lag import GroupLag, LagReader, PartitionLag, measure_lag
from edgesplit.kafka.admin import TopicSpec, admin_client, create_topics
from edgesplit.kafka.clients import consumer_config, producer_config

pytestmark = pytest.mark.kafka

STEP_MS = 1000
TOLERANCE_S = 0.005  # float rounding and the clock reads around the measurement


def make_topic(kafka: KafkaSettings, name: str, partitions: int = 1) -> str:
    create_topics(kafka, [TopicSpec(name, partitions)])
    return name


def produce_at(
    kafka: KafkaSettings, topic: str, timestamps_ms: Sequence[int], partition: int = 0
) -> None:
    """One record per timestamp (CreateTime), in order, to one partition; waits for acks."""
    producer = Producer(producer_config(kafka))
    for i, ts in enumerate(timestamps_ms):
        producer.produce(topic, value=b"r%d" % i, partition=partition, timestamp=ts)
    assert producer.flush(30) == 0


def commit(kafka: KafkaSettings, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer(consumer_config(kafka, group_id=group) | {"enable.auto.commit": False})
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def measured(
    kafka: KafkaSettings, group: str, topics: Sequence[str] = ()
) -> tuple[float, GroupLag, float]:
    before = time.time()
    (lag,) = measure_lag(kafka, [group], topics_of={group: topics})
    return before, lag, time.time()


def assert_time_lag(p: PartitionLag, ts_ms: int, before: float, after: float) -> float:
    """The time lag is now - ts for some now within the measurement; returns its offset from
    the measurement's midpoint (the figure the report quotes)."""
    assert p.oldest_unconsumed_ts_ms == ts_ms
    assert p.time_lag_s is not None
    lo, hi = before - ts_ms / 1000, after - ts_ms / 1000
    assert lo - TOLERANCE_S <= p.time_lag_s <= hi + TOLERANCE_S, (lo, p.time_lag_s, hi)
    return p.time_lag_s - (lo + hi) / 2


def test_offset_and_time_lag_are_exact(kafka: KafkaSettings, unique: str) -> None:
    topic = make_topic(kafka, f"lag-exact-{unique}")
    t0 = int(time.time() * 1000) - 120_000  # two minutes ago
    produce_at(kafka, topic, [t0 + i * STEP_MS for i in range(10)])
    for k in (0, 4, 9):
        group = f"lag-exact-{unique}-{k}"
        commit(kafka, group, {(topic, 0): k})
        before, lag, after = measured(kafka, group)
        (p,) = lag.partitions
        assert (p.topic, p.partition, p.committed, p.end, p.lag) == (topic, 0, k, 10, 10 - k)
        error = assert_time_lag(p, t0 + k * STEP_MS, before, after)
        assert abs(error) <= (after - before) / 2 + TOLERANCE_S
        assert lag.state == "EMPTY" and lag.members == 0 and not lag.missing
        assert lag.total_lag == 10 - k and lag.max_time_lag_s == p.time_lag_s
        assert before <= lag.measured_at <= after


def test_caught_up_group_on_an_idle_topic_has_no_time_lag(
    kafka: KafkaSettings, unique: str
) -> None:
    topic = make_topic(kafka, f"lag-idle-{unique}")
    produce_at(kafka, topic, [1_000_000_000_000 + i for i in range(5)])  # records from 2001
    group = f"lag-idle-{unique}"
    commit(kafka, group, {(topic, 0): 5})
    _, lag, _ = measured(kafka, group)
    (p,) = lag.partitions
    assert (p.committed, p.end, p.lag, p.time_lag_s, p.oldest_unconsumed_ts_ms) == (
        5,
        5,
        0,
        0.0,
        None,
    )
    assert lag.total_lag == 0 and lag.max_time_lag_s == 0.0


def test_unconsumed_records_on_an_idle_topic_fall_further_behind(
    kafka: KafkaSettings, unique: str
) -> None:
    topic = make_topic(kafka, f"lag-grow-{unique}")
    t0 = int(time.time() * 1000) - 30_000
    produce_at(kafka, topic, [t0, t0 + 10])
    group = f"lag-grow-{unique}"
    commit(kafka, group, {(topic, 0): 1})
    with LagReader(kafka) as reader:
        (first,) = reader.measure([group])
        time.sleep(1.0)
        (second,) = reader.measure([group])
    a, b = first.partitions[0], second.partitions[0]
    assert a.lag == b.lag == 1 and a.oldest_unconsumed_ts_ms == t0 + 10
    assert a.time_lag_s is not None and b.time_lag_s is not None
    elapsed = second.measured_at - first.measured_at
    assert elapsed >= 1.0
    assert b.time_lag_s - a.time_lag_s == pytest.approx(elapsed, abs=1e-6)


def test_without_a_committed_offset_lag_counts_from_the_low_watermark(
    kafka: KafkaSettings, unique: str
) -> None:
    topic = make_topic(kafka, f"lag-none-{unique}")
    t0 = int(time.time() * 1000) - 60_000
    produce_at(kafka, topic, [t0 + i * STEP_MS for i in range(10)])
    admin: AdminClient = admin_client(kafka)
    for fut in admin.delete_records([TopicPartition(topic, 0, 3)], request_timeout=10).values():
        fut.result()  # records 0..2 are gone: the low watermark is 3

    # a live member that never committed: judged from the low watermark
    group = f"lag-none-{unique}"
    member = Consumer(consumer_config(kafka, group_id=group) | {"enable.auto.commit": False})
    member.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
            member.pause(member.assignment())  # a member that reads nothing
        before, lag, after = measured(kafka, group)
    finally:
        member.close()
    (p,) = lag.partitions
    assert lag.state == "STABLE" and lag.members == 1 and not lag.missing
    assert (p.committed, p.end, p.lag) == (None, 10, 7)
    assert_time_lag(p, t0 + 3 * STEP_MS, before, after)

    # no such group, but a topic it should read (a plan's stage): the backlog shows; missing
    before, lag, after = measured(kafka, f"lag-ghost-{unique}", [topic])
    (p,) = lag.partitions
    assert lag.state == "DEAD" and lag.members == 0 and lag.missing
    assert (p.committed, p.end, p.lag) == (None, 10, 7)
    assert_time_lag(p, t0 + 3 * STEP_MS, before, after)

    _, lag, _ = measured(kafka, f"lag-nothing-{unique}")
    assert (lag.state, lag.members, lag.partitions, lag.missing) == ("DEAD", 0, (), True)


def test_every_partition_of_a_group(kafka: KafkaSettings, unique: str) -> None:
    topic = make_topic(kafka, f"lag-multi-{unique}", partitions=3)
    other = make_topic(kafka, f"lag-other-{unique}")
    t0 = int(time.time() * 1000) - 300_000
    counts = {0: 10, 1: 4, 2: 0}
    for k, n in counts.items():
        produce_at(kafka, topic, [t0 + k * 100_000 + i * STEP_MS for i in range(n)], partition=k)
    produce_at(kafka, other, [t0 + 7, t0 + 8])
    group = f"lag-multi-{unique}"
    # partition 0 at 6, partition 1 never committed, partition 2 empty, the other topic at 1
    commit(kafka, group, {(topic, 0): 6, (topic, 2): 0, (other, 0): 1})
    before, lag, after = measured(kafka, group)
    got = {(p.topic, p.partition): p for p in lag.partitions}
    assert list(got) == sorted([(topic, 0), (topic, 1), (topic, 2), (other, 0)])
    expect = {  # committed, end, lag, oldest unconsumed timestamp
        (topic, 0): (6, 10, 4, t0 + 6 * STEP_MS),
        (topic, 1): (None, 4, 4, t0 + 100_000),
        (topic, 2): (0, 0, 0, None),
        (other, 0): (1, 2, 1, t0 + 8),
    }
    for key, (committed, end, n, ts) in expect.items():
        p = got[key]
        assert (p.committed, p.end, p.lag) == (committed, end, n), key
        if ts is None:
            assert p.time_lag_s == 0.0 and p.oldest_unconsumed_ts_ms is None
        else:
            assert_time_lag(p, ts, before, after)
    assert lag.total_lag == 9
    assert lag.max_time_lag_s == got[(other, 0)].time_lag_s  # t0 + 8 is the oldest
