"""The README's step-by-step pipeline, command by command, as a user runs it (MNIST CNN)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings

pytestmark = pytest.mark.kafka


def test_the_documented_pipeline_commands(kafka: KafkaSettings, tmp_path: Path) -> None:
    env = os.environ | {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "EDGESPLIT_BOOTSTRAP": kafka.bootstrap_servers,
    }

    def edgesplit(*args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, "-m", "edgesplit", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert res.returncode == 0, f"edgesplit {' '.join(args)}:\n{res.stderr}"
        return res

    assert "mnist_cnn" in edgesplit("models", "list").stdout
    cuts = [
        json.loads(line) for line in edgesplit("cuts", "mnist_cnn", "--json").stdout.splitlines()
    ]
    assert len(cuts) >= 10
    pool = next(c for c in cuts if c["tensors"][0]["shape"] == [64, 7, 7])
    edgesplit(
        "plan",
        "manual",
        "--model",
        "mnist_cnn",
        "--cut",
        str(pool["index"]),
        "--encoding",
        "int8",
        "-o",
        "plan.yaml",
    )
    assert (tmp_path / "plan.stages" / "stage-1.onnx").is_file()
    try:
        assert "deployed" in edgesplit("deploy", "plan.yaml").stdout
        status = edgesplit("deploy", "--status").stdout
        assert "2/2" in status
        sent = edgesplit(
            "stream",
            "--plan",
            "plan.yaml",
            "--source",
            "mnist",
            "--count",
            "500",
            "--sensors",
            "3",
            "--seed",
            "1",
        )
        assert "streamed 500 frames (500 labelled)" in sent.stdout
        summary = json.loads(
            edgesplit(
                "results", "--plan", "plan.yaml", "--count", "500", "--json", "--timeout", "60"
            ).stdout
        )
        assert summary["frames"] == 500
        assert summary["accuracy"] > 0.98
        assert summary["latency_ms"]["p50"] > 0
        letters = edgesplit("dead-letters", "--plan", "plan.yaml", "--json").stdout
        assert letters.strip() == ""
    finally:
        stopped = edgesplit("deploy", "--stop")
    assert "stopped" in stopped.stdout


def test_wrong_source_for_the_model_is_a_clear_error(kafka: KafkaSettings, tmp_path: Path) -> None:
    from tests.support import make_plan  # noqa: PLC0415

    _, path = make_plan(tmp_path, "mnist_cnn", [9])
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesplit",
            "stream",
            "--plan",
            str(path),
            "--source",
            "photos",
            "--bootstrap",
            kafka.bootstrap_servers,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1
    assert (
        "source photos gives frames of shape [224, 224, 3], but mnist_cnn takes [28, 28]"
        in res.stderr
    )
