"""Stopping a deployment: stages that will not stop are killed, and that is news only
when the caller gave them time to finish."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edgesplit.orchestrator import deploy as dep

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def _deployment(state: Path, name: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN])
    time.sleep(0.5)  # the handler is in place
    d = dep.Deployment("plan.yaml", name, 1, "127.0.0.1:9", time.time(),
                       (dep.StageProcess(0, 0, proc.pid, "stage.log"),))  # fmt: skip
    folder = dep.deployments_dir(state) / d.name
    folder.mkdir(parents=True)
    (folder / "deployment.json").write_text(json.dumps(asdict(d)))
    return proc


@pytest.mark.parametrize(("expect_kill", "warned"), [(False, True), (True, False)])
def test_a_stage_that_ignores_sigterm_is_killed(
    tmp_path: Path, expect_kill: bool, warned: bool
) -> None:
    proc = _deployment(tmp_path, "p")
    try:
        with capture_logs() as logs:
            stopped = dep.stop_deployment(tmp_path, "p-v1", timeout_s=0.3, expect_kill=expect_kill)
        assert [s.pid for s in stopped] == [proc.pid]
        assert not dep.alive(proc.pid)  # gone on return: the plan can be deployed again
        assert proc.wait(timeout=5) == -9
        warnings = [(e["event"], e["pid"]) for e in logs if e["log_level"] == "warning"]
        assert warnings == ([("stage_killed", proc.pid)] if warned else [])
    finally:
        proc.kill()
