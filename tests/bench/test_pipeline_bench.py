"""The pipeline benchmark's arithmetic (the run itself is `edgesplit bench pipeline`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgesplit.bench.measure import steady_rate
from edgesplit.config import KafkaSettings


def test_steady_rate_ignores_start_up_and_tail() -> None:
    # 100 events: a slow start (1 s gaps), 10 ms apart in steady state, a slow tail
    times = [i * 1_000_000 for i in range(5)]
    times += [5_000_000 + i * 10_000 for i in range(90)]
    times += [times[-1] + (i + 1) * 1_000_000 for i in range(5)]
    assert abs(steady_rate(times) - 100.0) < 1.0


def test_steady_rate_of_few_events_is_the_plain_rate() -> None:
    assert steady_rate([0, 1_000_000, 2_000_000]) == 1.0
    assert steady_rate([5]) == 0.0


@pytest.mark.kafka
def test_the_benchmark_runs_end_to_end(kafka: KafkaSettings) -> None:
    """The documented command works (figures are for `edgesplit bench pipeline` to print)."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesplit",
            "bench",
            "pipeline",
            "--model",
            "mnist_cnn",
            "--frames",
            "200",
            "--bootstrap",
            kafka.bootstrap_servers,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "Kafka pipeline, 2" in res.stdout
    assert "x the slowest stage alone" in res.stdout
