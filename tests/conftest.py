"""Shared fixtures. Kafka is real: a session-scoped local broker, or EDGESPLIT_BOOTSTRAP.

If the broker cannot start, every test that needs it fails with the reason. Nothing
skips and nothing mocks Kafka.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from edgesplit.broker import LocalBroker
from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.errors import EdgesplitError
from edgesplit.kafka.admin import ping

settings.register_profile(
    "ci", max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def broker_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("broker")


@pytest.fixture(scope="session")
def kafka(broker_home: Path) -> Iterator[KafkaSettings]:
    """A real Kafka cluster for the whole session."""
    bootstrap = os.environ.get("EDGESPLIT_BOOTSTRAP")
    if bootstrap:
        settings_ = KafkaSettings(bootstrap)
        try:
            ping(settings_, timeout_s=10)
        except EdgesplitError as exc:
            pytest.fail(f"EDGESPLIT_BOOTSTRAP={bootstrap} does not answer: {exc}")
        yield settings_
        return
    broker = LocalBroker(broker_home, cache_dir())
    try:
        started = broker.start(timeout_s=180)
    except EdgesplitError as exc:
        pytest.fail(f"the local Kafka broker could not start: {exc}")
    try:
        yield KafkaSettings(started.state.bootstrap)
    finally:
        broker.stop()


@pytest.fixture
def unique() -> str:
    """A fresh suffix for topic and group names, so tests never share state."""
    return uuid.uuid4().hex[:12]
