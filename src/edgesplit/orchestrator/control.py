"""Plans on the control plane: a compacted topic, one record per pipeline version.

A record carries the plan's YAML, the digests of its stage partitions (on the artifacts
topic), the replicas wanted per stage and whether the version is active or retired. Agents
follow the topic and run what it says; a frame producer follows it to send each frame to
the newest active version. A tombstone deletes a record.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from pydantic import BaseModel, ConfigDict, ValidationError

from edgesplit.config import KafkaSettings
from edgesplit.consumers.lag import LagReader
from edgesplit.errors import ConfigError, DeliveryError
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.kafka.clients import consumer_config
from edgesplit.kafka.io import produce_all, read_to_end
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger
from edgesplit.orchestrator.artifacts import publish_artifacts
from edgesplit.orchestrator.deploy import topic_specs
from edgesplit.orchestrator.plan import (
    TOPIC_PREFIX,
    Plan,
    load_plan,
    parse_plan,
    verify_stage_model,
)

PLANS_TOPIC = "edgesplit.plans"
_LIMIT = message_limit(4 * 1024 * 1024)
log = get_logger("control")

Key = tuple[str, int]


class PlanRecord(BaseModel):
    """One pipeline version as the control plane knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipeline: str
    version: int
    plan_yaml: str
    artifacts: dict[int, str]  # stage index -> sha256 of its partition
    replicas: dict[int, int]  # stage index -> processes wanted
    state: Literal["active", "retired"]
    published_at: float

    @property
    def key(self) -> str:
        return record_key(self.pipeline, self.version)

    def plan(self) -> Plan:
        """The plan, validated as `load_plan` validates a file."""
        return parse_plan(self.plan_yaml, f"plan record {self.key} on {PLANS_TOPIC}")


def record_key(pipeline: str, version: int) -> str:
    return f"{pipeline}/v{version}"


def _parse_key(key: str) -> Key | None:
    pipeline, _, version = key.rpartition("/v")
    return (pipeline, int(version)) if pipeline and version.isdigit() else None


def ensure_topic(settings: KafkaSettings) -> None:
    spec = TopicSpec.compacted(PLANS_TOPIC, _LIMIT)
    create_topics(settings, [spec])


def _put(settings: KafkaSettings, key: str, record: PlanRecord | None) -> None:
    ensure_topic(settings)
    value = record.model_dump_json().encode() if record is not None else None
    produce_all(
        settings, PLANS_TOPIC, [(key.encode(), value)], max_message_bytes=_LIMIT, idempotent=False
    )


def _check_replicas(plan: Plan, replicas: Mapping[int, int]) -> dict[int, int]:
    out = {s.index: s.replicas for s in plan.stages}
    for stage, n in replicas.items():
        plan.stage(stage)  # ConfigError for a stage the plan does not have
        if not 0 <= n <= plan.topics.partitions:
            raise ConfigError(
                f"stage {stage} of {plan.pipeline} v{plan.version} can have 0 to "
                f"{plan.topics.partitions} replicas (its topics have {plan.topics.partitions} "
                f"partition(s)), not {n}; build the plan with more partitions"
            )
        out[stage] = n
    return out


def publish_plan(
    settings: KafkaSettings, plan_path: Path, *, replicas: Mapping[int, int] | None = None
) -> PlanRecord:
    """Publish a plan file: its partitions as artifacts, its topics, its record (active)."""
    plan = load_plan(plan_path)
    wanted = _check_replicas(plan, replicas or {})
    text = plan_path.read_text()
    existing = read_plans(settings).get((plan.pipeline, plan.version))
    if existing is not None and existing.plan() != plan:
        raise ConfigError(
            f"{plan.pipeline} v{plan.version} is already published with a different plan; "
            f"plans are immutable: build version {plan.version + 1}"
        )
    models = [verify_stage_model(plan_path, stage) for stage in plan.stages]
    artifacts = dict(enumerate(publish_artifacts(settings, models)))
    create_topics(settings, topic_specs(plan))
    record = PlanRecord(
        pipeline=plan.pipeline,
        version=plan.version,
        plan_yaml=text,
        artifacts=artifacts,
        replicas=wanted,
        state="active",
        published_at=time.time(),
    )
    _put(settings, record.key, record)
    log.info("plan_published", pipeline=plan.pipeline, version=plan.version, replicas=wanted)
    return record


def _existing(settings: KafkaSettings, pipeline: str, version: int) -> PlanRecord:
    record = read_plans(settings).get((pipeline, version))
    if record is None:
        raise ConfigError(
            f"no plan {record_key(pipeline, version)} on {PLANS_TOPIC}; publish it with "
            "`edgesplit deploy PLAN --publish`"
        )
    return record


def set_replicas(
    settings: KafkaSettings, pipeline: str, version: int, replicas: Mapping[int, int]
) -> PlanRecord:
    """Republish a version's record with new replica counts (0..partitions per stage)."""
    record = _existing(settings, pipeline, version)
    wanted = _check_replicas(record.plan(), {**record.replicas, **replicas})
    updated = record.model_copy(update={"replicas": wanted, "published_at": time.time()})
    _put(settings, updated.key, updated)
    log.info("replicas_set", pipeline=pipeline, version=version, replicas=wanted)
    return updated


def retire(settings: KafkaSettings, pipeline: str, version: int) -> None:
    """Mark a version retired: agents stop its stages, producers stop choosing it."""
    record = _existing(settings, pipeline, version)
    updated = record.model_copy(update={"state": "retired", "published_at": time.time()})
    _put(settings, updated.key, updated)
    log.info("plan_retired", pipeline=pipeline, version=version)


def delete_plan(settings: KafkaSettings, pipeline: str, version: int) -> None:
    """Tombstone a version's record: compaction forgets it; agents stop its stages."""
    _put(settings, record_key(pipeline, version), None)
    log.info("plan_deleted", pipeline=pipeline, version=version)


def _decode(key: str, value: bytes) -> PlanRecord | None:
    try:
        return PlanRecord.model_validate_json(value)
    except ValidationError as exc:
        log.warning("plan_record_unreadable", key=key, reason=str(exc).splitlines()[0])
        return None


def read_plans(settings: KafkaSettings) -> dict[Key, PlanRecord]:
    """Every plan record, read to the topic's end (later records win, as compaction keeps)."""
    out: dict[Key, PlanRecord] = {}
    for msg in read_to_end(settings, PLANS_TOPIC, max_message_bytes=_LIMIT):
        _apply(out, (msg.key() or b"").decode(errors="replace"), msg.value())
    return out


def _apply(records: dict[Key, PlanRecord], key: str, value: bytes | None) -> None:
    parsed = _parse_key(key)
    if parsed is None:
        return
    if value is None:
        records.pop(parsed, None)
        return
    record = _decode(key, value)
    if record is not None:
        records[parsed] = record


def _newest(records: Mapping[Key, PlanRecord], pipeline: str) -> PlanRecord | None:
    active = [r for (p, _), r in records.items() if p == pipeline and r.state == "active"]
    return max(active, key=lambda r: r.version, default=None)


def results_pattern(pipeline: str) -> str:
    """A subscription pattern for the results topics of every version of `pipeline`."""
    return f"^{TOPIC_PREFIX}\\.{pipeline}\\.v[0-9]+\\.results$"  # names: [A-Za-z0-9_-]


def newest_active(settings: KafkaSettings, pipeline: str) -> PlanRecord | None:
    return _newest(read_plans(settings), pipeline)


class PlanFollower:
    """Follows the plans topic in a background thread (from its beginning, no group)."""

    def __init__(self, settings: KafkaSettings, *, wait_s: float = 15.0) -> None:
        ensure_topic(settings)
        self._records: dict[Key, PlanRecord] = {}
        self._plans: dict[Key, tuple[PlanRecord, Plan]] = {}
        self._changed = threading.Condition()
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._failure: Exception | None = None
        self._consumer = Consumer(
            consumer_config(
                settings,
                group_id=f"edgesplit-plan-follower-{uuid.uuid4().hex[:8]}",
                max_message_bytes=_LIMIT,
            )
            | {"enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 100}
        )
        self._consumer.assign([TopicPartition(PLANS_TOPIC, 0, OFFSET_BEGINNING)])
        self._thread = threading.Thread(target=self._run, name="plan-follower", daemon=True)
        self._thread.start()
        if not self._caught_up.wait(wait_s):
            self.close()
            raise DeliveryError(f"could not read {PLANS_TOPIC} to its end within {wait_s:g}s")

    def __enter__(self) -> PlanFollower:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                msg = self._consumer.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        self._caught_up.set()
                        continue
                    log.warning("plans_read_failed", reason=str(err))
                    continue
                with self._changed:
                    _apply(self._records, (msg.key() or b"").decode(errors="replace"), msg.value())
                    self._changed.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported to the caller by current()/wait_for()
            self._failure = exc
            log.error("plan_follower_failed", reason=str(exc))
        finally:
            self._consumer.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _check(self) -> None:
        if self._failure is not None:
            raise DeliveryError(f"following {PLANS_TOPIC} failed: {self._failure}")

    def records(self) -> dict[Key, PlanRecord]:
        """A snapshot of every record seen so far."""
        self._check()
        with self._changed:
            return dict(self._records)

    def _plan_of(self, record: PlanRecord) -> Plan:
        key = (record.pipeline, record.version)
        cached = self._plans.get(key)
        if cached is None or cached[0] is not record:
            cached = (record, record.plan())
            self._plans[key] = cached
        return cached[1]

    def current(self, pipeline: str) -> Plan | None:
        """The newest active version of `pipeline` (None if none is active)."""
        self._check()
        with self._changed:
            record = _newest(self._records, pipeline)
            return self._plan_of(record) if record is not None else None

    def wait_for(self, pipeline: str, version: int, timeout_s: float = 10.0) -> PlanRecord:
        """Block until the record of `pipeline` v`version` is seen; DeliveryError if not."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (pipeline, version) not in self._records:
                self._check()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeliveryError(
                        f"plan {record_key(pipeline, version)} did not appear on "
                        f"{PLANS_TOPIC} within {timeout_s:g}s"
                    )
                self._changed.wait(min(left, 0.5))
            return self._records[(pipeline, version)]

    def frames_topic(self, pipeline: str) -> Callable[[], str]:
        """For `stream(follow=...)`: the newest active version's frames topic, asked per
        frame; while no version is active, the last one chosen (ConfigError if never one)."""
        last: list[str] = []

        def follow() -> str:
            plan = self.current(pipeline)
            if plan is not None:
                if not last or last[0] != plan.topics.frames:
                    log.info("frames_topic_chosen", pipeline=pipeline, version=plan.version)
                last[:] = [plan.topics.frames]
            if not last:
                raise ConfigError(
                    f"no active version of pipeline {pipeline!r} on {PLANS_TOPIC}; publish one "
                    "with `edgesplit deploy PLAN --publish`"
                )
            return last[0]

        return follow


def drained(settings: KafkaSettings, plan: Plan) -> bool:
    """True when every stage group of `plan` has committed up to the log end of its input
    topic on every partition (stages in order, so what an earlier stage delivered before
    committing is counted in the next stage's log end)."""
    groups = [plan.group_id(s.index) for s in plan.stages]
    topics_of = {plan.group_id(s.index): [s.input_topic] for s in plan.stages}
    with LagReader(settings) as reader:
        for group in groups:
            (lag,) = reader.measure([group], topics_of)
            inputs = [p for p in lag.partitions if p.topic == topics_of[group][0]]
            if not inputs or any(p.lag > 0 for p in inputs):
                return False
    return True
