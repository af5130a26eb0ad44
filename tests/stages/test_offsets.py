"""At-least-once bookkeeping: store only below the lowest unfinished offset."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgesplit.stages.offsets import OffsetTracker


def positions(t: OffsetTracker) -> dict[tuple[str, int], int]:
    return {(tp.topic, tp.partition): tp.offset for tp in t.to_store()}


def test_out_of_order_completion_waits_for_the_oldest() -> None:
    t = OffsetTracker()
    for off in (10, 11, 12):
        t.started("in", 0, off)
    t.finished("in", 0, 11)
    t.finished("in", 0, 12)
    assert positions(t) == {("in", 0): 10}  # 10 is still in flight
    t.finished("in", 0, 10)
    assert positions(t) == {("in", 0): 13}
    assert positions(t) == {}  # nothing moved since


def test_partitions_are_independent_and_forgotten_on_revoke() -> None:
    from confluent_kafka import TopicPartition  # noqa: PLC0415

    t = OffsetTracker()
    t.started("in", 0, 5)
    t.started("in", 1, 7)
    t.finished("in", 1, 7)
    assert positions(t) == {("in", 0): 5, ("in", 1): 8}
    t.forget([TopicPartition("in", 0)])
    t.finished("in", 0, 5)
    assert positions(t) == {}
    assert t.in_flight() == 0


@given(st.permutations(list(range(20))), st.integers(0, 20))
def test_stored_position_never_passes_an_unfinished_offset(order: list[int], done: int) -> None:
    t = OffsetTracker()
    for off in range(20):
        t.started("in", 0, off)
    finished = set(order[:done])
    for off in order[:done]:
        t.finished("in", 0, off)
    stored = positions(t).get(("in", 0), 0)
    assert all(off in finished for off in range(stored))
    first_unfinished = next((o for o in range(20) if o not in finished), 20)
    assert stored == first_unfinished
