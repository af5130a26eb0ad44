"""The dead-letter topic: bad records, kept with their reason, never silently dropped.

The record's own bytes and key are kept as they came; headers say why it was refused,
by which stage, and where it came from (topic, partition, offset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from edgesplit.log import get_logger

log = get_logger("stage.deadletters")

HEADER_PREFIX = "edgesplit."


@dataclass(frozen=True)
class DeadLetter:
    """Why a record was refused: `reason` for people, `error` and `field` for programs."""

    reason: str
    error: str  # the error type, e.g. DecodeError, ShapeError, StageError, DeliveryError
    field: str = ""


def headers_for(
    dead: DeadLetter, msg: Message, stage: int, plan_version: int
) -> list[tuple[str, str | bytes | None]]:
    fields = {
        "reason": dead.reason,
        "error": dead.error,
        "field": dead.field,
        "stage": str(stage),
        "plan-version": str(plan_version),
        "source-topic": msg.topic() or "",
        "source-partition": str(msg.partition()),
        "source-offset": str(msg.offset()),
    }
    return [(HEADER_PREFIX + k, v.encode()) for k, v in fields.items()]


def read_headers(msg: Message) -> dict[str, str]:
    """The edgesplit.* headers of a dead letter, without the prefix."""
    raw = msg.headers() or []
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    out = {}
    for key, value in pairs:
        if key.startswith(HEADER_PREFIX) and value is not None:
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            out[key[len(HEADER_PREFIX) :]] = text
    return out


class DeadLetterWriter:
    def __init__(self, producer: Producer, topic: str, stage: int, plan_version: int) -> None:
        self.producer = producer
        self.topic = topic
        self.stage = stage
        self.plan_version = plan_version
        self.sent = 0

    def send(self, msg: Message, dead: DeadLetter, done: Callable[[], None]) -> None:
        """Produce the raw record with its reason; `done` runs once Kafka has it."""

        def on_delivery(err: KafkaError | None, _: Message) -> None:
            if err is not None:
                # Not stored as finished: the source record is read again after a restart.
                log.error("dead_letter_lost", error=str(err), offset=msg.offset())
                return
            done()

        log.warning(
            "record_dead_lettered",
            reason=dead.reason,
            error=dead.error,
            field=dead.field,
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
        )
        value = msg.value()
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    value=value if value is not None else b"",
                    key=msg.key(),
                    headers=headers_for(dead, msg, self.stage, self.plan_version),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.sent += 1
