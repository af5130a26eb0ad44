"""The local broker's life cycle and its failure modes, with real Kafka processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgesplit.broker import LocalBroker
from edgesplit.config import cache_dir
from edgesplit.errors import BrokerStartError, PortInUseError

EDGESPLIT = [sys.executable, "-m", "edgesplit"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in another process, as from another shell."""
    return subprocess.run(
        [*EDGESPLIT, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_start_status_stop_from_other_shells(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    started = cli("broker", "start", "--home", home)
    assert started.returncode == 0, started.stderr
    assert "ready at 127.0.0.1:" in started.stdout
    try:
        again = cli("broker", "start", "--home", home)
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout

        status = cli("broker", "status", "--home", home, "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["running"] and info["answering"]
        assert info["state"]["version"] == "4.1.1"
        pid = info["state"]["pid"]
        assert Path(f"/proc/{pid}").exists()

        logs = cli("broker", "logs", "--home", home, "-n", "5")
        assert logs.returncode == 0
        assert logs.stdout.strip()
    finally:
        stopped = cli("broker", "stop", "--home", home)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped Kafka" in stopped.stdout
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    after = cli("broker", "status", "--home", home)
    assert after.returncode == 3
    assert "no local broker running" in after.stdout


def test_restart_keeps_topics(tmp_path: Path) -> None:
    from edgesplit.config import KafkaSettings  # noqa: PLC0415
    from edgesplit.kafka.admin import TopicSpec, create_topics, ping  # noqa: PLC0415

    broker = LocalBroker(tmp_path / "home", cache_dir())
    first = broker.start()
    try:
        create_topics(KafkaSettings(first.state.bootstrap), [TopicSpec("kept")])
    finally:
        broker.stop()
    second = broker.start()
    try:
        assert second.state.port == first.state.port  # the last port is reused when free
        assert "kept" in ping(KafkaSettings(second.state.bootstrap)).topics
    finally:
        broker.stop()


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} .* is taken; choose another"):
            LocalBroker(tmp_path, cache_dir()).start(port=port)
        res = cli("broker", "start", "--home", str(tmp_path), "--port", str(port))
    assert res.returncode == 1
    assert f"error: port {port}" in res.stderr
    assert "Traceback" not in res.stderr


def test_broker_dying_during_start_up_shows_its_log(tmp_path: Path) -> None:
    """A corrupt data directory: Kafka exits, and the error carries its own complaint."""
    broker = LocalBroker(tmp_path, cache_dir())
    broker.start()
    broker.stop()
    (broker.data_dir / "meta.properties").write_text("node.id=99\nversion=1\n")
    with pytest.raises(BrokerStartError, match="exited during start-up") as info:
        broker.start()
    assert "node.id" in str(info.value) or "meta.properties" in str(info.value)
    assert "\tat " not in str(info.value)
    assert broker.running_state() is None


def test_bad_broker_property_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerStartError, match=r"num\.network\.threads"):
        LocalBroker(tmp_path, cache_dir()).start(overrides={"num.network.threads": "0"})


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python only: no java, no mvn
    res = cli("broker", "start", "--home", str(tmp_path), env=env)
    assert res.returncode == 1
    assert "`java` not found on PATH" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_mvn_with_an_empty_cache_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAVEN_HOME"}
    java = shutil.which("java")
    assert java is not None, "java is not on PATH: install OpenJDK 17+ (the broker needs it)"
    env["PATH"] = f"{Path(sys.executable).parent}:{Path(java).resolve().parent}"
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    res = cli("broker", "install", env=env)
    assert res.returncode == 1
    assert "`mvn` not found on PATH" in res.stderr
