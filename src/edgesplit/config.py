"""Settings objects and the per-user directories.

The CLI reads flags and the environment and builds these; everything below it takes
them as arguments. Nothing here reads the environment except the XDG helpers, which
callers use only to pick defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

APP_NAME = "edgesplit"


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach a Kafka cluster. Maps onto librdkafka's dotted keys."""

    bootstrap_servers: str
    client_id: str = APP_NAME
    extra: Mapping[str, str | int | float | bool] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def librdkafka(self) -> dict[str, Any]:
        """The base configuration for every confluent-kafka client."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
        }
        conf.update(self.extra)
        return conf


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value) if value else Path.home() / fallback
    return base / APP_NAME


def cache_dir() -> Path:
    """Per-user cache: the broker's jars, downloaded weights, exported models."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def state_dir() -> Path:
    """Per-user state: the local broker's data, logs and pid file."""
    return _xdg("XDG_STATE_HOME", ".local/state")
