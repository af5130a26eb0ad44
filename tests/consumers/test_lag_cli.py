"""`edgesplit lag` as a user meets it: tables, JSON lines, Prometheus gauges, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from edgesplit.cli.main import app
from edgesplit.config import KafkaSettings
from tests.consumers.test_lag import commit, make_topic, produce_at

pytestmark = pytest.mark.kafka

runner = CliRunner()


def stuck_group(kafka: KafkaSettings, unique: str, name: str) -> tuple[str, str]:
    """A group 8 records behind on a topic nobody consumes."""
    topic = make_topic(kafka, f"cli-{name}-{unique}")
    produce_at(kafka, topic, [int(time.time() * 1000) - 5000] * 10)
    group = f"cli-{name}-{unique}"
    commit(kafka, group, {(topic, 0): 2})
    return topic, group


@contextmanager
def edgesplit_bg(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesplit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out, err


def test_one_poll_as_json(kafka: KafkaSettings, unique: str) -> None:
    topic, group = stuck_group(kafka, unique, "json")
    res = runner.invoke(app, ["lag", "-g", group, "--json", "-b", kafka.bootstrap_servers])
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    doc = json.loads(line)
    (g,) = doc["groups"]
    assert (g["group"], g["status"], g["state"], g["total_lag"]) == (group, "OK", "EMPTY", 8)
    (p,) = g["partitions"]
    assert (p["topic"], p["partition"], p["committed"], p["end"], p["lag"]) == (topic, 0, 2, 10, 8)
    assert 4.5 < p["time_lag_s"] < 60


def test_one_poll_as_a_table(kafka: KafkaSettings, unique: str) -> None:
    topic, group = stuck_group(kafka, unique, "table")
    res = runner.invoke(
        app, ["lag", "-g", group, "-b", kafka.bootstrap_servers], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert f"{group}  empty, 0 members, lag 8" in res.stdout
    row = next(line for line in res.stdout.splitlines() if f"{topic}[0]" in line)
    assert row.split("│")[1:5] == [f" {topic}[0] ", "         2 ", "  10 ", "   8 "]
    assert f"OK  OK: lag 8 on {topic}[0]; 1 of 5 observations, no trend yet" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", "nope", "-b", "127.0.0.1:9"], "error: no Kafka broker answered at 127.0.0.1:9"),
        (["-g", "cli-nope-{unique}"], "error: no consumer group 'cli-nope-{unique}' at "),
    ],
)
def test_errors_are_one_line(
    kafka: KafkaSettings, unique: str, args: list[str], message: str
) -> None:
    args = [a.format(unique=unique) for a in args]
    if "-b" not in args:
        args += ["-b", kafka.bootstrap_servers]
    res = subprocess.run(
        [sys.executable, "-m", "edgesplit", "lag", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"COLUMNS": "400"},
    )
    assert res.returncode == 1
    assert res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(message.format(unique=unique))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(url: str, until: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our loopback
                text = resp.read().decode()
        except OSError:
            text = ""
        if until in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{until!r} never appeared at {url}; last scrape:\n{text}")


def test_prometheus_gauges_and_json_lines(kafka: KafkaSettings, unique: str) -> None:
    topic, group = stuck_group(kafka, unique, "prom")
    port = free_port()
    args = ["lag", "-g", group, "-g", f"cli-ghost-{unique}", "--prometheus", str(port)]
    args += ["--json", "--interval", "0.3", "--window", "2", "-b", kafka.bootstrap_servers]
    with edgesplit_bg(*args) as proc:
        url = f"http://127.0.0.1:{port}/metrics"
        text = scrape(url, until=f'edgesplit_group_status{{group="{group}",status="STALL"}} 1.0')
        out, err = interrupt(proc)
    labels = f'group="{group}",partition="0",topic="{topic}"'  # sorted by the exposition
    lines = text.splitlines()
    assert f"edgesplit_consumer_lag_offsets{{{labels}}} 8.0" in lines
    (age,) = [x for x in lines if x.startswith(f"edgesplit_consumer_lag_seconds{{{labels}}}")]
    assert 4.5 < float(age.split()[-1]) < 60
    for status in ("OK", "WARN", "STOP", "ERR"):
        assert f'edgesplit_group_status{{group="{group}",status="{status}"}} 0.0' in lines
    ghost = f'edgesplit_group_status{{group="cli-ghost-{unique}",status="ERR"}} 1.0'
    assert ghost in lines
    assert f"serving Prometheus metrics at {url}" in err
    polls = [json.loads(line) for line in out.splitlines()]
    assert len(polls) >= 2
    assert [g["status"] for g in polls[-1]["groups"]] == ["STALL", "ERR"]
    with pytest.raises(OSError):  # the endpoint went away with the command
        urllib.request.urlopen(url, timeout=2)


def test_watch_shows_a_live_table(kafka: KafkaSettings, unique: str) -> None:
    topic, group = stuck_group(kafka, unique, "watch")
    args = ["lag", "-g", group, "--watch", "--interval", "0.3", "--window", "2"]
    with edgesplit_bg(*args, "-b", kafka.bootstrap_servers) as proc:
        time.sleep(3)
        out, _ = interrupt(proc)
    assert f"{topic}[0]" in out
    assert f"STALL  STALL: committed offset of {topic}[0] unchanged at 2" in out
