"""docker/compose.yaml is valid (checked by Debian's docker-compose; no engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "compose.yaml"


def test_compose_file_is_valid() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: `make tools` installs Debian's package"
    done = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_compose_broker_matches_the_local_broker() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    kafka = spec["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
