"""Consumer-group lag: committed offsets, log end offsets, offset lag and time lag.

Offset lag is `end - committed` per partition (a partition the group never committed to
counts from the low watermark: everything retained is unconsumed). Time lag is read, not
interpolated: the oldest unconsumed record of each lagging partition is fetched by a
throwaway consumer (assigned at the committed offset; no group membership, no commits) and
its timestamp is compared with the time of the measurement. A caught-up partition has time
lag 0 however old its last record is; a partition with unconsumed records keeps falling
behind while nobody reads it, idle topic or not. A partition whose probe finds nothing to
read after the committed offset (read_committed) has lag 0 too: what lies there is a
transaction's commit marker (a topic written by an exactly-once stage), an aborted
transaction's records, or one still open.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from edgesplit.config import KafkaSettings
from edgesplit.errors import BrokerUnreachableError, DeliveryError
from edgesplit.kafka.admin import admin_client
from edgesplit.kafka.clients import consumer_config
from edgesplit.kafka.limits import MiB
from edgesplit.log import get_logger

log = get_logger("consumers.lag")

_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.REQUEST_TIMED_OUT,
}


@dataclass(frozen=True)
class PartitionLag:
    """One partition as one group sees it."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed an offset here
    end: int  # log end offset (high watermark): the offset the next record will get
    lag: int  # records not yet consumed
    time_lag_s: float | None  # age of the oldest unconsumed record; 0 when caught up
    oldest_unconsumed_ts_ms: int | None  # that record's timestamp (None when caught up)

    @property
    def name(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(frozen=True)
class GroupLag:
    """One measurement of one consumer group."""

    group: str
    state: str  # the coordinator's view: STABLE, EMPTY, DEAD (no such group), ...
    members: int
    partitions: tuple[PartitionLag, ...]
    total_lag: int
    max_time_lag_s: float
    measured_at: float  # unix time, seconds

    @classmethod
    def of(
        cls,
        group: str,
        state: str,
        members: int,
        partitions: Iterable[PartitionLag],
        measured_at: float,
    ) -> GroupLag:
        parts = tuple(sorted(partitions, key=lambda p: (p.topic, p.partition)))
        return cls(
            group,
            state,
            members,
            parts,
            sum(p.lag for p in parts),
            max((p.time_lag_s or 0.0 for p in parts), default=0.0),
            measured_at,
        )

    @property
    def missing(self) -> bool:
        """No members and no committed offset: nothing on the cluster consumes as this group."""
        return self.members == 0 and all(p.committed is None for p in self.partitions)


def _kafka_failure(exc: KafkaException, what: str, settings: KafkaSettings) -> Exception:
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError) and err.code() in _UNREACHABLE:
        return BrokerUnreachableError(
            f"the Kafka cluster at {settings.bootstrap_servers} did not answer while reading "
            f"{what} ({err.str()}); check that the broker is up or pass --bootstrap HOST:PORT"
        )
    return DeliveryError(f"Kafka refused to give {what}: {err}")


class LagReader:
    """Measures consumer groups. Holds one admin client and one probe consumer; close() it."""

    def __init__(self, settings: KafkaSettings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin = admin_client(settings, quiet=True)
        probe_conf: dict[str, Any] = consumer_config(
            settings,
            group_id=f"edgesplit-lag-probe-{uuid.uuid4().hex[:8]}",
            max_message_bytes=64 * MiB,
        )
        probe_conf |= {
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 10,
        }
        self._probe = Consumer(probe_conf)

    def __enter__(self) -> LagReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._probe.close()

    # --- which groups -----------------------------------------------------------------

    def groups_with_prefix(self, prefix: str) -> list[str]:
        """Every consumer group on the cluster whose name starts with `prefix`, sorted."""
        try:
            listed = self._admin.list_consumer_groups(request_timeout=self.timeout_s).result()
        except KafkaException as exc:
            raise _kafka_failure(exc, "the consumer groups", self.settings) from exc
        return sorted(g.group_id for g in listed.valid or () if g.group_id.startswith(prefix))

    # --- measuring --------------------------------------------------------------------

    def measure(
        self, groups: Sequence[str], topics_of: Mapping[str, Sequence[str]] | None = None
    ) -> list[GroupLag]:
        """Measure each group. `topics_of` names topics a group should read even before it
        commits (a plan's stage input topics); their partitions count from the low watermark."""
        if not groups:
            return []
        topics_of = topics_of or {}
        described = self._describe(groups)
        return [
            self._measure_one(g, *described[g], self._committed(g), topics_of.get(g, ()))
            for g in groups
        ]

    def _describe(self, groups: Sequence[str]) -> dict[str, tuple[str, int, set[TopicPartition]]]:
        out: dict[str, tuple[str, int, set[TopicPartition]]] = {}
        futures = self._admin.describe_consumer_groups(list(groups), request_timeout=self.timeout_s)
        for group, future in futures.items():
            try:
                desc = future.result()
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError.GROUP_ID_NOT_FOUND:
                    out[group] = ("DEAD", 0, set())
                    continue
                raise _kafka_failure(exc, f"group {group!r}", self.settings) from exc
            assigned = {
                tp
                for m in desc.members
                if m.assignment is not None
                for tp in m.assignment.topic_partitions
            }
            out[group] = (desc.state.name, len(desc.members), assigned)
        return out

    def _committed(self, group: str) -> dict[tuple[str, int], int]:
        request = [ConsumerGroupTopicPartitions(group)]
        future = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)[
            group
        ]
        try:
            result = future.result()
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.GROUP_ID_NOT_FOUND:
                return {}
            raise _kafka_failure(exc, f"the offsets of group {group!r}", self.settings) from exc
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or ()
            if tp.error is None and tp.offset >= 0
        }

    def _partitions(self, topic: str) -> list[int]:
        try:
            meta = self._probe.list_topics(topic, timeout=self.timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise _kafka_failure(exc, f"the metadata of {topic!r}", self.settings) from exc
        if meta is None or meta.error is not None:
            return []
        return sorted(meta.partitions)

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            low, high = self._probe.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout_s, cached=False
            )
        except KafkaException as exc:
            raise _kafka_failure(
                exc, f"the offsets of {topic}[{partition}]", self.settings
            ) from exc
        return int(low), int(high)

    def _measure_one(
        self,
        group: str,
        state: str,
        members: int,
        assigned: set[TopicPartition],
        committed: dict[tuple[str, int], int],
        expected_topics: Sequence[str],
    ) -> GroupLag:
        topics = {t for t, _ in committed} | {tp.topic for tp in assigned} | set(expected_topics)
        marks: dict[tuple[str, int], tuple[int, int]] = {}
        for topic in sorted(topics):
            parts = self._partitions(topic)
            if not parts and any(t == topic for t, _ in committed):
                log.warning("committed_topic_disappeared", group=group, topic=topic)
            for p in parts:
                marks[(topic, p)] = self._watermarks(topic, p)
        starts: dict[tuple[str, int], int] = {}
        for key, (low, high) in marks.items():
            start = max(committed.get(key, low), low)
            if start < high:
                starts[key] = start
        oldest, empty = self._oldest_timestamps(starts)
        now = time.time()
        partitions = []
        for key, (low, high) in marks.items():
            done = committed.get(key)
            lag = 0 if key in empty else max(high - (low if done is None else done), 0)
            ts = oldest.get(key) if lag > 0 else None
            if lag == 0:
                time_lag: float | None = 0.0
            elif ts is None:
                time_lag = None
            else:
                time_lag = max(now - ts / 1000.0, 0.0)  # a producer clock ahead of ours: 0
            partitions.append(PartitionLag(key[0], key[1], done, high, lag, time_lag, ts))
        return GroupLag.of(group, state, members, partitions, now)

    def _oldest_timestamps(
        self, starts: Mapping[tuple[str, int], int]
    ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int]]]:
        """The timestamp of the first record at or after each start offset (one fetch each),
        and the partitions with no record to read from there."""
        if not starts:
            return {}, set()
        found: dict[tuple[str, int], int] = {}
        empty: set[tuple[str, int]] = set()
        settled: set[tuple[str, int]] = set()
        self._probe.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        deadline = time.monotonic() + self.timeout_s
        try:
            while len(settled) < len(starts) and (left := deadline - time.monotonic()) > 0:
                msg = self._probe.poll(min(left, 0.5))
                if msg is None:
                    continue
                key = (msg.topic() or "", msg.partition() or 0)
                if key not in starts or key in settled:
                    continue
                err = msg.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    raise _kafka_failure(KafkaException(err), f"{key[0]}[{key[1]}]", self.settings)
                offset = msg.offset()
                if err is None and (offset is None or offset < starts[key]):
                    continue
                settled.add(key)
                self._probe.pause([TopicPartition(*key)])
                if err is not None:  # the end, before any record at or after the start
                    empty.add(key)
                kind, ts = msg.timestamp() if err is None else (TIMESTAMP_NOT_AVAILABLE, -1)
                if kind != TIMESTAMP_NOT_AVAILABLE and ts >= 0:
                    found[key] = ts
        finally:
            # a pause outlives the assignment in librdkafka: resume before the next probe
            self._probe.resume([TopicPartition(t, p) for t, p in settled])
            self._probe.unassign()
        for t, p in set(starts) - settled:
            log.warning("oldest_record_timed_out", topic=t, partition=p, timeout_s=self.timeout_s)
        return found, empty


def measure_lag(
    settings: KafkaSettings,
    groups: Sequence[str],
    *,
    topics_of: Mapping[str, Sequence[str]] | None = None,
    timeout_s: float = 10.0,
) -> list[GroupLag]:
    """One measurement of each group (a reader opened and closed for the call)."""
    with LagReader(settings, timeout_s=timeout_s) as reader:
        return reader.measure(groups, topics_of)
