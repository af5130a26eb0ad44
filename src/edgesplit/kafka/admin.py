"""Cluster checks and topic management through confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from edgesplit.config import KafkaSettings
from edgesplit.errors import BrokerUnreachableError, DeliveryError
from edgesplit.kafka.clients import librdkafka_logger
from edgesplit.kafka.limits import topic_config
from edgesplit.log import get_logger

log = get_logger("kafka.admin")
_silent = logging.getLogger("edgesplit.librdkafka.probe")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str | None
    brokers: int
    topics: tuple[str, ...]


@dataclass(frozen=True)
class TopicSpec:
    """A topic as edgesplit needs it: partitions and per-topic configs."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def for_messages(
        cls, name: str, max_message_bytes: int, *, partitions: int = 1, **config: str
    ) -> TopicSpec:
        return cls(name, partitions, 1, MappingProxyType(topic_config(max_message_bytes) | config))

    @classmethod
    def compacted(cls, name: str, max_message_bytes: int) -> TopicSpec:
        """A one-partition control topic that keeps the latest record per key."""
        config = topic_config(max_message_bytes) | {"cleanup.policy": "compact"}
        return cls(name, 1, 1, MappingProxyType(config))


def admin_client(settings: KafkaSettings, *, quiet: bool = False) -> AdminClient:
    conf = settings.librdkafka()
    conf["logger"] = _silent if quiet else librdkafka_logger
    return AdminClient(conf)


def _tcp_reachable(bootstrap: str, timeout_s: float) -> str | None:
    """None if some bootstrap address accepts a TCP connection, else the last OS error."""
    error = "no address given"
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection(
                (host.strip("[]") or "localhost", int(port)), timeout=timeout_s
            ):
                return None
        except (OSError, ValueError) as exc:
            error = f"{address.strip()}: {exc}"
    return error


def ping(settings: KafkaSettings, timeout_s: float = 5.0) -> ClusterInfo:
    """Ask the cluster for its metadata; BrokerUnreachableError if it does not answer."""
    refused = _tcp_reachable(settings.bootstrap_servers, min(timeout_s, 3.0))
    if refused is not None:  # fail in milliseconds, not after librdkafka's retries
        raise BrokerUnreachableError(
            f"no Kafka broker answered at {settings.bootstrap_servers} ({refused}); start one "
            "with `edgesplit broker start` or pass --bootstrap HOST:PORT"
        )
    admin = admin_client(settings, quiet=True)
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnreachableError(
            f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:g}s; "
            "start one with `edgesplit broker start` or pass --bootstrap HOST:PORT"
        ) from exc
    topics = tuple(sorted(t for t in meta.topics if not t.startswith("__")))
    return ClusterInfo(meta.cluster_id, len(meta.brokers), topics)


def create_topics(
    settings: KafkaSettings, specs: Iterable[TopicSpec], timeout_s: float = 30.0
) -> list[str]:
    """Create topics; existing ones get the configs of their spec. Returns the names created."""
    specs = list(specs)
    if not specs:
        return []
    admin = admin_client(settings)
    new = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication_factor,
            config=dict(s.config),
        )
        for s in specs
    ]
    futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    created: list[str] = []
    existing: list[TopicSpec] = []
    for spec in specs:
        try:
            futures[spec.name].result()
            created.append(spec.name)
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                existing.append(spec)
                continue
            raise DeliveryError(f"could not create topic {spec.name!r}: {err}") from exc
    _update_configs(admin, existing, timeout_s)
    if created:
        log.info("topics_created", topics=created)
    return created


def _update_configs(admin: AdminClient, specs: list[TopicSpec], timeout_s: float) -> None:
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            s.name,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in s.config.items()
            ],
        )
        for s in specs
        if s.config
    ]
    if not resources:
        return
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout_s)
    for res, fut in futures.items():
        try:
            fut.result()
        except KafkaException as exc:
            raise DeliveryError(f"could not update configs of topic {res.name!r}: {exc}") from exc


def delete_topics(settings: KafkaSettings, names: Iterable[str], timeout_s: float = 30.0) -> None:
    names = list(names)
    if not names:
        return
    admin = admin_client(settings)
    futures = admin.delete_topics(names, operation_timeout=timeout_s, request_timeout=timeout_s)
    for name, fut in futures.items():
        try:
            fut.result()
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise DeliveryError(f"could not delete topic {name!r}: {err}") from exc
