"""The host's slowdown: a fixed ONNX Runtime run timed during a run, against the profiles'."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgesplit.bench import speed
from edgesplit.bench.speed import Reading, SpeedProbe
from edgesplit.orchestrator.transport import null_model


def _probe(tmp_path: Path) -> SpeedProbe:
    return SpeedProbe(null_model(tmp_path / "null.onnx", 64), np.ones(64, np.float32))


def test_a_sample_times_the_model(tmp_path: Path) -> None:
    assert _probe(tmp_path).sample() > 0


def test_metering_samples_while_the_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speed, "PERIOD_S", 0.01)
    probe = _probe(tmp_path)
    with probe.metering() as reading:
        time.sleep(0.2)
    count = len(reading.samples)
    assert count >= 3
    time.sleep(0.05)
    assert len(reading.samples) == count  # the meter stopped with the work


def test_the_slowdown_is_the_median_sample_against_the_profiles(tmp_path: Path) -> None:
    probe = _probe(tmp_path)
    assert probe.slowdown(Reading([5.0])) is None  # no reference yet: nothing to say
    probe.reference.samples += [10.0, 11.0, 30.0]  # one sample during a burst of load
    assert probe.slowdown(Reading([16.5, 99.0, 12.0])) == pytest.approx(16.5 / 11.0)
    assert probe.slowdown(Reading()) is None
