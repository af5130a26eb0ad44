"""The stage loop: poll -> decode -> micro-batch -> run -> encode -> produce -> store offsets.

At-least-once (the default): the consumer never stores offsets by itself; a record's
offset is stored once its output (or its dead letter) is acknowledged by Kafka and every
earlier record of its partition is finished too. Exactly-once (`delivery: exactly-once`
in the plan): the outputs, dead letters and input offsets are committed together, in
Kafka transactions (`transactions.py`). A record that cannot be decoded or does not fit the stage
goes to the dead-letter topic with its reason, and the stage goes on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from edgesplit.config import KafkaSettings
from edgesplit.errors import DecodeError, DeliveryError, StageError
from edgesplit.kafka.clients import consumer_config, producer_config
from edgesplit.kafka.limits import MiB
from edgesplit.log import get_logger
from edgesplit.orchestrator.plan import Plan
from edgesplit.schemas import Activation, Tensor, TensorEncoding, TraceStamp, now_us
from edgesplit.schemas.codec import (
    decode_activation,
    decode_frame,
    encode_activation,
    encode_result,
)
from edgesplit.schemas.records import Result
from edgesplit.stages.deadletters import DeadLetter, DeadLetterWriter
from edgesplit.stages.executor import Executor
from edgesplit.stages.metrics import MetricsPublisher
from edgesplit.stages.offsets import OffsetTracker
from edgesplit.stages.stats import BatchSample, StageStats
from edgesplit.stages.topk import top_k
from edgesplit.stages.transactions import Transactions, producer_settings

Array = np.ndarray[Any, Any]
POLL_S = 0.1
OUTPUT_QUEUE_BYTES = 4 * MiB  # at least; two records of the largest size otherwise


@dataclass(frozen=True)
class Item:
    """One decoded input record, ready to batch."""

    msg: Message
    head: Activation  # ids, capture time, label and trace of the frame (tensors unused)
    inputs: dict[str, Array]
    passthrough: tuple[Tensor, ...]
    received_us: int


@dataclass
class _Batch:
    items: list[Item] = field(default_factory=list)
    first_us: int = 0


class StageRuntime:
    """Runs stage `index` of `plan` until `stop` is set."""

    def __init__(
        self,
        plan: Plan,
        index: int,
        executor: Executor,
        settings: KafkaSettings,
        *,
        summary_every_s: float = 10.0,
        metrics_every_s: float = 2.0,
        slow_ms: float = 0.0,
    ) -> None:
        self.plan = plan
        self.slow_s = slow_ms / 1000  # per frame, on top of the model (a deliberately slow stage)
        self.spec = plan.stage(index)
        self.index = index
        self.executor = executor
        self.settings = settings
        self.summary_every_s = summary_every_s
        self.in_cut = plan.input_cut(index)
        self.out_cut = plan.output_cut(index)
        self.encoding = self.out_cut.tensor_encoding if self.out_cut else TensorEncoding()
        self.hop = f"stage-{index}"
        self.stats = StageStats(stage=index)
        self.tracker = OffsetTracker()
        self.log = get_logger("stage").bind(
            pipeline=plan.pipeline, plan_version=plan.version, stage=index
        )
        limit = max(
            plan.topics.frames_max_message_bytes,
            plan.topics.results_max_message_bytes,
            *(c.max_message_bytes for c in plan.cuts),
        )
        # A bounded output queue: when the link is slower than the stage, the stage waits
        # for deliveries (blocked on produce, in its metrics) instead of piling frames up
        # in memory, and its input stays in Kafka, as lag.
        queue_kb = max(OUTPUT_QUEUE_BYTES, 2 * limit) // 1024
        exactly_once = plan.delivery == "exactly-once"
        group = plan.group_id(index)
        self.producer = Producer(
            producer_config(
                settings,
                max_message_bytes=limit,
                **{"queue.buffering.max.kbytes": queue_kb},
                **(producer_settings(group) if exactly_once else {}),
            )
        )
        self.consumer = Consumer(
            consumer_config(settings, group_id=group, max_message_bytes=limit)
            # A crashed stage's partitions move to a replica within seconds, not 45 s.
            | {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000}
            # Exactly-once: offsets are committed by the transaction, not by the consumer.
            | ({"enable.auto.commit": False} if exactly_once else {})
        )
        self.txn = Transactions(self.producer, self.consumer) if exactly_once else None
        # Metrics are not part of any batch: outside the transactions, on their own producer.
        self._metrics_producer = (
            Producer(producer_config(settings, max_message_bytes=limit))
            if exactly_once
            else self.producer
        )
        self._collecting = _Batch()
        self._uncommitted_out = 0  # outputs delivered in the open transaction
        self.dead = DeadLetterWriter(self.producer, plan.topics.dead_letters, index, plan.version)
        self.metrics = MetricsPublisher(
            self._metrics_producer,
            plan.topics.metrics,
            pipeline=plan.pipeline,
            plan_version=plan.version,
            stage=index,
            tier=self.spec.tier,
            every_s=metrics_every_s,
        )
        self._passthrough = {t.name: t for t in self.spec.passthrough}

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> StageStats:
        self.consumer.subscribe(
            [self.spec.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        self.log.info("stage_started", input=self.spec.input_topic, output=self.spec.output_topic)
        next_summary = time.monotonic() + self.summary_every_s
        try:
            while not stop.is_set():
                batch = self._collect(stop)
                if batch.items:
                    self._process(batch)
                self.producer.poll(0)
                full = len(batch.items) == self.spec.batch.max_size
                self._finish_batch(now=stop.is_set() or not full)
                self.metrics.maybe_publish(self.stats)
                if time.monotonic() >= next_summary:
                    self.log.info("stage_summary", **self.stats.summary())
                    next_summary = time.monotonic() + self.summary_every_s
        finally:
            self._shutdown()
        return self.stats

    def _collect(self, stop: threading.Event) -> _Batch:
        """Up to max_size records; wait at most max_wait_ms once the first one is here.

        `consume(n, timeout)` waits until it has n records or the timeout passes, so it is
        only used with timeout 0 (take what is already fetched); waiting is done by
        `poll`, which returns as soon as one record arrives.
        """
        policy = self.spec.batch
        batch = self._collecting = _Batch()
        deadline: float | None = None
        waited_from = time.monotonic()
        while len(batch.items) < policy.max_size and not stop.is_set():
            timeout = POLL_S if deadline is None else deadline - time.monotonic()
            msg = self.consumer.poll(max(timeout, 0.0))
            if msg is None:
                if deadline is None or timeout <= 0:
                    break  # idle, or the batch is due: let the caller flush and store
                continue
            room = policy.max_size - len(batch.items) - 1
            msgs = [msg, *(self.consumer.consume(room, 0) if room > 0 else [])]
            for m in msgs:
                item = self._admit(m)
                if item is not None:
                    if not batch.items:
                        batch.first_us = item.received_us
                        deadline = time.monotonic() + policy.max_wait_ms / 1000
                        self.stats.wait_s += time.monotonic() - waited_from
                    batch.items.append(item)
        if deadline is None:
            self.stats.wait_s += time.monotonic() - waited_from
        return batch

    def _admit(self, msg: Message) -> Item | None:
        """Decode and check one record; a bad one goes to the dead-letter topic."""
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                self.log.warning("consume_failed", error=str(err))
            return None
        received = now_us()
        if self.txn is not None:
            self.txn.consumed(*position(msg))
        else:
            self.tracker.started(*position(msg))
        value = msg.value()
        self.stats.frames_in += 1
        self.stats.bytes_in += len(value) if value else 0
        t0 = time.perf_counter()
        try:
            head, inputs, passthrough = self._decode(value if value is not None else b"")
        except DecodeError as exc:
            self._dead_letter(msg, DeadLetter(exc.reason, "DecodeError", exc.field))
            return None
        except _Refused as exc:
            self._dead_letter(msg, DeadLetter(str(exc), exc.kind, exc.field))
            return None
        finally:
            self.stats.decode_s += time.perf_counter() - t0
        return Item(msg, head, inputs, passthrough, received)

    def _decode(self, value: bytes) -> tuple[Activation, dict[str, Array], tuple[Tensor, ...]]:
        if self.in_cut is None:
            frame = decode_frame(value)
            name = self.spec.inputs[0].name
            why = self.executor.check(name, frame.tensor.array)
            if why is not None:
                raise _Refused(why, "ShapeError", "tensor")
            head = Activation(
                frame.frame_id,
                frame.sensor_id,
                frame.seq,
                frame.capture_us,
                self.plan.version,
                -1,
                (),
                frame.label,
                frame.trace,
            )
            return head, {name: frame.tensor.array}, ()
        act = decode_activation(value)
        if act.plan_version != self.plan.version:
            raise _Refused(
                f"record of plan version {act.plan_version}; this stage runs version "
                f"{self.plan.version}",
                "VersionError",
                "plan_version",
            )
        tensors = {t.name: t.array for t in act.tensors}
        inputs: dict[str, Array] = {}
        for spec in self.spec.inputs:
            if spec.name not in tensors:
                raise _Refused(f"tensor {spec.name!r} is missing", "ShapeError", "tensors")
            why = self.executor.check(spec.name, tensors[spec.name])
            if why is not None:
                raise _Refused(why, "ShapeError", "tensors")
            inputs[spec.name] = tensors[spec.name]
        passthrough = []
        for name, spec in self._passthrough.items():
            array = tensors.get(name)
            if array is None or array.dtype != np.dtype(spec.dtype) or array.shape != spec.shape:
                raise _Refused(
                    f"pass-through tensor {name!r} is missing or misshapen", "ShapeError", "tensors"
                )
            passthrough.append(Tensor(name, array))
        return act, inputs, tuple(passthrough)

    def _process(self, batch: _Batch) -> None:
        items = batch.items
        feeds = {name: np.stack([it.inputs[name] for it in items]) for name in items[0].inputs}
        cpu_clock = time.thread_time if self.executor.threads == 1 else time.process_time
        t0, c0 = time.perf_counter(), cpu_clock()
        try:
            outputs = self.executor.run(feeds)
        except StageError:
            outputs = None
        cpu_s = cpu_clock() - c0
        if self.slow_s:
            time.sleep(self.slow_s * len(items))
        compute_s = time.perf_counter() - t0
        self.stats.compute_s += compute_s
        self.stats.batches += 1
        self.stats.batch_frames += len(items)
        end = now_us()
        self.stats.record_batch(
            BatchSample(
                end_us=end,
                size=len(items),
                wait_ms=max(0.0, (end - batch.first_us) / 1000 - compute_s * 1000),
                compute_ms=compute_s * 1000,
                compute_cpu_ms=cpu_s * 1000,
            )
        )
        if outputs is None:  # find the culprit(s): run the frames one by one
            for it in items:
                single = _Batch([it], it.received_us)
                try:
                    out = self.executor.run({k: v[None] for k, v in it.inputs.items()})
                except StageError as exc:
                    self._dead_letter(it.msg, DeadLetter(str(exc), "StageError", ""))
                    continue
                self._emit(single, out)
            return
        self.log.debug(
            "batch_processed",
            size=len(items),
            compute_ms=round(compute_s * 1000, 2),
            wait_ms=round((now_us() - batch.first_us) / 1000 - compute_s * 1000, 2),
        )
        self._emit(batch, outputs)

    def _emit(self, batch: _Batch, outputs: dict[str, Array]) -> None:
        for i, it in enumerate(batch.items):
            t0 = time.perf_counter()
            sent = now_us()
            trace = (*it.head.trace, TraceStamp(self.hop, it.received_us, sent))
            if self.out_cut is None:
                value = encode_result(self._result(it, outputs, i, trace))
            else:
                tensors = tuple(Tensor(name, out[i]) for name, out in outputs.items())
                value = encode_activation(
                    Activation(
                        it.head.frame_id,
                        it.head.sensor_id,
                        it.head.seq,
                        it.head.capture_us,
                        self.plan.version,
                        self.index,
                        tensors + it.passthrough,
                        it.head.label,
                        trace,
                    ),
                    self.encoding,
                )
            self.stats.encode_s += time.perf_counter() - t0
            self._produce(it.msg, value)

    def _result(
        self, it: Item, outputs: dict[str, Array], i: int, trace: tuple[TraceStamp, ...]
    ) -> Result:
        """Top-k classes for a row of class scores; any other output travels as a tensor."""
        name = self.spec.outputs[0].name
        row = outputs[name][i]
        scores = row.ndim == 1 and row.dtype.kind == "f"
        topk = top_k(row, self.plan.results_top_k) if scores else ()
        raw = None if scores else Tensor(name, row)
        h = it.head
        return Result(
            h.frame_id,
            h.sensor_id,
            h.seq,
            h.capture_us,
            self.plan.version,
            self.index,
            topk,
            raw,
            h.label,
            trace,
        )

    def _produce(self, source: Message, value: bytes) -> None:
        topic, partition, offset = position(source)

        def on_delivery(err: KafkaError | None, _: Message) -> None:
            if self.txn is not None:  # a failed delivery fails the transaction's commit
                self._uncommitted_out += err is None
                return
            if err is None:
                self.stats.frames_out += 1
                self.tracker.finished(topic, partition, offset)
                return
            self._dead_letter(source, DeadLetter(f"output not delivered: {err}", "DeliveryError"))

        self.stats.bytes_out += len(value)
        while True:
            try:
                self.producer.produce(
                    self.spec.output_topic, value=value, key=source.key(), on_delivery=on_delivery
                )
                return
            except BufferError:  # the local queue is full: wait for deliveries
                t0 = time.perf_counter()
                self.producer.poll(0.05)
                self.stats.produce_blocked_s += time.perf_counter() - t0
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if self.txn is not None and (
                    err.txn_requires_abort() or err.fatal() or err.code() == KafkaError._STATE
                ):  # the transaction failed, not the record: its commit aborts it
                    self.log.warning("output_refused", error=str(err))
                    return
                self._dead_letter(
                    source, DeadLetter(f"output refused: {exc.args[0]}", "DeliveryError")
                )
                return

    def _dead_letter(self, msg: Message, dead: DeadLetter) -> None:
        self.stats.dead_letters += 1
        topic, partition, offset = position(msg)
        self.dead.send(msg, dead, lambda: self.tracker.finished(topic, partition, offset))

    # --- offsets and shutdown ---------------------------------------------------------

    def _finish_batch(self, *, now: bool) -> None:
        """At-least-once: store the offsets that are done. Exactly-once: commit the
        transaction (outputs, dead letters and offsets together) `now` (the input did not
        fill the batch, or the stage stops) or once it is due (`Transactions.due`)."""
        if self.txn is None:
            self._store()
            return
        if not (now or self.txn.due()):
            return
        if self.txn.commit():
            self.stats.frames_out += self._uncommitted_out
        self._uncommitted_out = 0
        self._metrics_producer.poll(0)

    def _store(self) -> None:
        positions = self.tracker.to_store()
        if not positions:
            return
        try:
            self.consumer.store_offsets(offsets=positions)
        except KafkaException as exc:  # a partition revoked meanwhile: its new owner re-reads
            self.log.debug("offsets_not_stored", error=str(exc))

    def _commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                self.log.warning("commit_failed", error=str(exc))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.info("partitions_assigned", partitions=[p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.txn is not None:
            # The records read so far belong to the next owner of their partitions (maybe
            # this stage again), which reads them from the last committed transaction.
            self.txn.abort(rewind=False)
            self._collecting.items.clear()
            self._uncommitted_out = 0
        else:
            self.producer.flush(10)
            self._store()
            self._commit()
            self.tracker.forget(partitions)
        self.log.info("partitions_revoked", partitions=[p.partition for p in partitions])

    def _shutdown(self) -> None:
        """Finish what is in flight: flush, store the offsets of what was delivered, commit."""
        self.metrics.publish(self.stats)  # the last window, so the run's totals add up
        if self.txn is not None:
            try:  # a batch cut short (by an error): the next owner of its input runs it again
                self.txn.abort(rewind=False)
            except DeliveryError as exc:
                self.log.warning("transaction_not_aborted", error=str(exc))
            self._metrics_producer.flush(10)
        left = self.producer.flush(30)
        if left:
            self.log.warning("outputs_unacknowledged", count=left)
        if self.txn is None:
            self._store()
            self._commit()
        self.consumer.close()
        self.log.info("stage_stopped", **self.stats.summary())


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record (always set on consumed records)."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


class _Refused(Exception):  # noqa: N818 - internal: a record this stage cannot take
    def __init__(self, reason: str, kind: str, field: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.field = field
