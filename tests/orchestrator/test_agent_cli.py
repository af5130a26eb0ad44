"""The control plane from the command line (real broker, agents as processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings
from edgesplit.orchestrator import control
from edgesplit.orchestrator.deploy import alive
from tests.orchestrator.versions import mnist_version, pipeline_name

pytestmark = pytest.mark.kafka


def test_publish_with_local_agents_stream_results_scale_retire_stop(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    env = os.environ | {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "EDGESPLIT_BOOTSTRAP": kafka.bootstrap_servers,
    }

    def edgesplit(*args: str) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "edgesplit", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert res.returncode == 0, f"edgesplit {' '.join(args)}:\n{res.stderr}"
        return res.stdout

    name = pipeline_name()
    _, path = mnist_version(tmp_path, name, 1)
    agent_pids: list[int] = []
    try:
        out = edgesplit("deploy", path.name, "--publish", "--local-agents")
        assert f"published {name}/v1" in out and "stages up" in out
        agent_pids = [
            json.loads(f.read_text())["pid"]
            for f in (tmp_path / "state" / "edgesplit" / "agents").glob("*.json")
        ]
        assert len(agent_pids) == 2
        listed = json.loads(edgesplit("plans", "--json"))
        mine = [p for p in listed["plans"] if p["pipeline"] == name]
        assert [(p["version"], p["state"]) for p in mine] == [(1, "active")]
        assert "agent edge: pid" in edgesplit("deploy", "--status")
        assert "streamed 20 frames" in edgesplit(
            "stream", "--pipeline", name, "--source", "mnist", "--count", "20"
        )
        summary = json.loads(
            edgesplit("results", "--pipeline", name, "--count", "20", "--idle", "60", "--json")
        )
        assert summary["frames"] == 20
        edgesplit("deploy", "--replicas", f"{name}:1:0=2")
        assert control.read_plans(kafka)[(name, 1)].replicas == {0: 2, 1: 1}
        edgesplit("deploy", "--retire", f"{name}:1")
        assert control.read_plans(kafka)[(name, 1)].state == "retired"
    finally:
        stopped = edgesplit("deploy", "--stop")
    assert "stopped the edge agent" in stopped and "stopped the cloud agent" in stopped
    assert not any(alive(p) for p in agent_pids)
    control.delete_plan(kafka, name, 1)
