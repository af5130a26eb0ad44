"""Exactly-once delivery for a stage: its outputs and its input offsets in one transaction.

A stage of a plan with `delivery: exactly-once` opens a Kafka transaction when the first
record of a batch arrives and commits it after the batch: the outputs, the dead letters
and the consumed offsets (sent to the transaction, not committed by the consumer) become
visible together or not at all. A stage that keeps filling its batches commits every
COMMIT_INTERVAL_S instead, as Kafka Streams does under exactly-once: a commit costs a few
ms of round trips, a lot beside a small model's batch. A stage killed mid-batch leaves an
open transaction that the broker aborts (`TRANSACTION_TIMEOUT_MS`); whoever reads the
input next starts from the last commit, and readers of the output
(`isolation.level=read_committed`, librdkafka's default) never see the aborted records. A
transaction that fails and can be aborted is aborted, and the consumer rewinds to its
first offsets to run it again. Zombie fencing is the consumer group's (KIP-447): a stage
whose partitions moved on cannot commit offsets for them.

The pattern is confluent-kafka-python's `examples/eos-transactions.py`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from edgesplit.errors import DeliveryError
from edgesplit.log import get_logger

TRANSACTION_TIMEOUT_MS = 10_000  # an open transaction of a dead stage is aborted after this
COMMIT_INTERVAL_S = 0.1  # a busy stage's transaction spans its batches of this long
# The broker finishes a commit after answering it, and the next transaction's first
# request waits for that as a retry: after this, not librdkafka's 100 ms, with which
# sending the offsets took 98 ms a transaction on the local broker (6 ms at 5 ms).
RETRY_BACKOFF_MS = 5
CALL_TIMEOUT_S = 30.0
_TRIES = 3  # a call that fails with a retriable error

log = get_logger("stage")


def transactional_id(group_id: str) -> str:
    """One per stage process: fencing is by the consumer group's generation (KIP-447), so a
    replica or a restart needs no fixed id, and two replicas never fence each other."""
    return f"{group_id}.{socket.gethostname()}.{os.getpid()}"


def producer_settings(group_id: str) -> dict[str, object]:
    return {
        "transactional.id": transactional_id(group_id),
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        "retry.backoff.ms": RETRY_BACKOFF_MS,
    }


class Transactions:
    """The stage's open transaction and the input offsets it covers."""

    def __init__(self, producer: Producer, consumer: Consumer) -> None:
        self.producer = producer
        self.consumer = consumer
        self._open = False
        self._began = 0.0
        self._span: dict[tuple[str, int], tuple[int, int]] = {}  # first and last offset read
        try:
            producer.init_transactions(CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise DeliveryError(
                f"cannot start Kafka transactions (exactly-once delivery): {exc.args[0]}; "
                "the broker needs transaction.state.log.replication.factor <= its brokers"
            ) from exc

    def consumed(self, topic: str, partition: int, offset: int) -> None:
        """A record was read: the transaction covers it (opened here if none is)."""
        if not self._open:
            try:
                self.producer.begin_transaction()
            except KafkaException as exc:
                raise DeliveryError(f"cannot begin a transaction: {exc.args[0]}") from exc
            self._open = True
            self._began = time.monotonic()
        first, _ = self._span.get((topic, partition), (offset, offset))
        self._span[(topic, partition)] = (first, offset)

    def due(self) -> bool:
        """The open transaction is COMMIT_INTERVAL_S old."""
        return self._open and time.monotonic() - self._began >= COMMIT_INTERVAL_S

    def commit(self) -> bool:
        """Commit the outputs and the offsets read. False: the transaction was aborted and
        the consumer rewound to run its records again. A fatal error (this producer was
        fenced, or the broker refuses transactions) raises DeliveryError."""
        if not self._open:
            return True
        positions = [TopicPartition(t, p, last + 1) for (t, p), (_, last) in self._span.items()]
        try:
            _retrying(
                lambda: self.producer.send_offsets_to_transaction(
                    positions, self.consumer.consumer_group_metadata(), CALL_TIMEOUT_S
                )
            )
            _retrying(lambda: self.producer.commit_transaction(CALL_TIMEOUT_S))
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if not err.txn_requires_abort():
                raise DeliveryError(f"transaction failed: {err}") from exc
            log.warning("transaction_aborted", error=str(err))
            self.abort()
            return False
        self._reset()
        return True

    def abort(self, *, rewind: bool = True) -> None:
        """Abort the open transaction; with `rewind`, read its records again."""
        if not self._open:
            return
        try:
            self.producer.abort_transaction(CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise DeliveryError(f"cannot abort the transaction: {exc.args[0]}") from exc
        if rewind:
            owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
            for (t, p), (first, _) in self._span.items():
                if (t, p) in owned:  # a revoked partition's next owner reads it from the commit
                    self.consumer.seek(TopicPartition(t, p, first))
        self._reset()

    def _reset(self) -> None:
        self._open = False
        self._span = {}


def _retrying(call: Callable[[], None]) -> None:
    """`call`, again while it fails with a retriable error, _TRIES times in all."""
    for attempt in range(_TRIES):
        try:
            call()
            return
        except KafkaException as exc:
            if not exc.args[0].retriable() or attempt + 1 == _TRIES:
                raise
