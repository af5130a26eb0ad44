"""The CLI as a user meets it: help, version, errors as one line, and the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from edgesplit import __version__
from edgesplit.cli.main import app
from edgesplit.config import KafkaSettings
from edgesplit.orchestrator.plan import load_plan

runner = CliRunner()


def edgesplit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgesplit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"edgesplit {__version__}"


def _commands(command: Any, path: list[str]) -> list[list[str]]:
    subs = getattr(command, "commands", {})  # a group's sub-commands by name
    return [path] + [c for name, sub in subs.items() for c in _commands(sub, [*path, name])]


COMMANDS = _commands(typer.main.get_command(app), [])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "edgesplit")
def test_every_command_explains_itself(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_every_command_is_covered() -> None:
    assert ["bench", "live"] in COMMANDS
    assert ["profile", "run"] in COMMANDS
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["bench", "live", "mnist_cnn", "--experiment", "resplt"], "--experiment"),
        (["plan", "auto", "mnist_cnn", "--objective", "fastest"], "--objective"),
        (["orchestrate", "mnist_cnn", "--objective", "fastest"], "--objective"),
    ],
)
def test_a_misspelt_choice_is_refused_before_anything_starts(args: list[str], option: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert f"Invalid value for '{option}'" in res.output


def test_unreachable_broker_is_one_line_and_exit_code_1() -> None:
    res = edgesplit("demo", "--bootstrap", "127.0.0.1:9")
    assert res.returncode == 1
    assert res.stderr.startswith("error: no Kafka broker answered at 127.0.0.1:9 (")
    assert res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_bad_option_value_is_a_usage_error() -> None:
    res = edgesplit("bench", "codec", "--encodings", "int4")
    assert res.returncode == 1
    assert "unknown tensor encoding 'int4'" in res.stderr


def test_plan_manual_exactly_once_writes_it_into_the_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    args = ["plan", "manual", "--model", "mnist_cnn", "--cut", "5", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert load_plan(out).delivery == "at-least-once"
    assert runner.invoke(app, [*args, "--exactly-once"]).exit_code == 0
    assert load_plan(out).delivery == "exactly-once"


@pytest.mark.kafka
def test_demo_splits_mobilenet_over_the_real_broker(kafka: KafkaSettings) -> None:
    res = edgesplit(
        "demo", "--bootstrap", kafka.bootstrap_servers, "--frames", "40", "--rate", "40"
    )
    assert res.returncode == 0, res.stderr
    assert "40/40 frames" in res.stdout
    assert "same top-1 as the unsplit model" in res.stdout
    assert "Egyptian cat" in res.stdout or "espresso" in res.stdout


def test_codec_benchmark_prints_every_size_and_encoding() -> None:
    res = edgesplit("bench", "codec", "--budget", "0.02", "--encodings", "raw,int8", "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {(r["size_bytes"], r["encoding"]) for r in rows} == {
        (s, e) for s in (64 * 1024, 1024 * 1024, 16 * 1024 * 1024) for e in ("raw", "int8")
    }
    assert all(r["encode_ratio"] > 0 and r["decode_ratio"] > 0 for r in rows)
    assert all(r["max_abs_error"] == 0 for r in rows if r["encoding"] == "raw")
