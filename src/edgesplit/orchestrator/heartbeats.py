"""Agents' heartbeats on the control plane: a compacted topic, one record per tier and host."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from edgesplit.config import KafkaSettings
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.kafka.clients import producer_config
from edgesplit.kafka.io import read_to_end
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger

AGENTS_TOPIC = "edgesplit.agents"
_LIMIT = message_limit(256 * 1024)
log = get_logger("heartbeats")


def ensure_topic(settings: KafkaSettings) -> None:
    spec = TopicSpec.compacted(AGENTS_TOPIC, _LIMIT)
    create_topics(settings, [spec])


def heartbeat_producer(settings: KafkaSettings) -> Producer:
    return Producer(producer_config(settings, max_message_bytes=_LIMIT))


def send_heartbeat(producer: Producer, key: str, beat: dict[str, Any]) -> None:
    """Queue one heartbeat (delivery is best effort: the next one follows soon)."""
    try:
        producer.produce(AGENTS_TOPIC, key=key.encode(), value=json.dumps(beat).encode())
    except BufferError:
        log.warning("heartbeat_dropped", key=key, reason="local queue full")
    producer.poll(0)


def read_agents(settings: KafkaSettings) -> dict[str, dict[str, Any]]:
    """The latest heartbeat of every agent, keyed `tier/host`."""
    out: dict[str, dict[str, Any]] = {}
    for msg in read_to_end(settings, AGENTS_TOPIC, max_message_bytes=_LIMIT):
        key = (msg.key() or b"").decode(errors="replace")
        value = msg.value()
        if value is None:
            out.pop(key, None)
            continue
        try:
            beat = json.loads(value)
        except ValueError:
            log.warning("heartbeat_unreadable", key=key)
            continue
        if isinstance(beat, dict):
            out[key] = beat
    return out


def _cgroup_quota() -> float | None:
    """This process's cgroup CPU quota, in CPUs (None: none set or not readable)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        candidates: list[tuple[Path, str | None]] = []
        if controllers == "":  # cgroup v2
            candidates.append((Path("/sys/fs/cgroup") / path.lstrip("/") / "cpu.max", None))
        elif "cpu" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
                base = Path("/sys/fs/cgroup") / mount / path.lstrip("/")
                candidates.append((base / "cpu.cfs_quota_us", str(base / "cpu.cfs_period_us")))
        for quota_file, period_file in candidates:
            try:
                if period_file is None:
                    quota, period = quota_file.read_text().split()
                else:
                    quota, period = quota_file.read_text().strip(), Path(period_file).read_text()
            except (OSError, ValueError):
                continue
            if quota in ("max", "-1"):
                return None
            return int(quota) / int(period)
    return None


def available_cpus() -> float:
    """CPUs this process may use: its affinity, capped by its cgroup's quota."""
    count = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0)
    count = count or float(os.cpu_count() or 1)
    quota = _cgroup_quota()
    return round(min(count, quota), 2) if quota is not None else count
