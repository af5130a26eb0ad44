"""Which offsets are safe to store: at-least-once with work finishing out of order.

A message's offset may be stored only when it and every message before it in its
partition are finished (delivered downstream, or dead-lettered). The tracker keeps, per
partition, the offsets still in flight; the safe position is the lowest of them, or one
past the highest seen when none is in flight.
"""

from __future__ import annotations

from confluent_kafka import TopicPartition

_Key = tuple[str, int]


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: dict[_Key, set[int]] = {}
        self._next: dict[_Key, int] = {}
        self._stored: dict[_Key, int] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        self._pending.setdefault(key, set()).add(offset)
        if offset + 1 > self._next.get(key, -1):
            self._next[key] = offset + 1

    def finished(self, topic: str, partition: int, offset: int) -> None:
        pending = self._pending.get((topic, partition))
        if pending is not None:
            pending.discard(offset)

    def in_flight(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def to_store(self) -> list[TopicPartition]:
        """Positions that moved since the last call (the offset of the next message to read)."""
        out = []
        for key, nxt in self._next.items():
            pending = self._pending.get(key)
            position = min(pending) if pending else nxt
            if position > self._stored.get(key, -1):
                self._stored[key] = position
                out.append(TopicPartition(key[0], key[1], position))
        return out

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop revoked partitions: whoever gets them next starts from the committed offset."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._pending.pop(key, None)
            self._next.pop(key, None)
            self._stored.pop(key, None)
