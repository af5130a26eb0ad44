"""Profiles on the control plane: a compacted topic, one latest profile per model and tier."""

from __future__ import annotations

from confluent_kafka import Producer

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, DeliveryError
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.kafka.clients import producer_config
from edgesplit.kafka.io import read_to_end
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger
from edgesplit.orchestrator.profile import TierProfile

TOPIC = "edgesplit.profiles"
_LIMIT = message_limit(4 * 1024 * 1024)
log = get_logger("profiles")


def ensure_topic(settings: KafkaSettings) -> None:
    spec = TopicSpec.for_messages(TOPIC, _LIMIT)
    config = dict(spec.config) | {"cleanup.policy": "compact"}
    create_topics(settings, [TopicSpec(TOPIC, 1, 1, config)])


def publish_profile(settings: KafkaSettings, profile: TierProfile) -> None:
    ensure_topic(settings)
    producer = Producer(producer_config(settings, max_message_bytes=_LIMIT))
    failures: list[str] = []
    producer.produce(
        TOPIC,
        key=profile.key().encode(),
        value=profile.to_json(),
        on_delivery=lambda err, _: failures.append(str(err)) if err else None,
    )
    if producer.flush(30) or failures:
        raise DeliveryError(
            f"the profile of {profile.key()} was not published: "
            f"{failures[0] if failures else 'timed out'}"
        )
    log.info("profile_published", model=profile.model, tier=profile.tier)


def read_profiles(settings: KafkaSettings, model: str) -> dict[str, TierProfile]:
    """The latest profile of `model` on each tier (later records win, as compaction keeps)."""
    latest: dict[str, TierProfile] = {}
    for msg in read_to_end(settings, TOPIC, max_message_bytes=_LIMIT):
        key = (msg.key() or b"").decode(errors="replace")
        value = msg.value()
        if not key.startswith(f"{model}/"):
            continue
        tier = key.split("/", 1)[1]
        if value is None:  # a tombstone: the profile was withdrawn
            latest.pop(tier, None)
            continue
        try:
            latest[tier] = TierProfile.from_json(value)
        except ConfigError as exc:
            log.warning("profile_unreadable", key=key, reason=str(exc))
    return latest
