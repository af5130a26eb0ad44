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


def test_metering_times_the_models_nodes_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speed, "PERIOD_S", 0.01)
    monkeypatch.setattr(speed, "ROLL", 2)  # a fresh ONNX Runtime profile every 2 samples
    probe = _probe(tmp_path)
    with probe.metering(probe.reference):
        time.sleep(0.2)
    assert probe.reference.nodes  # by node index, as cuts count them
    assert all(len(times) >= 3 for times in probe.reference.nodes.values())
    everything = range(2**31)
    with probe.metering() as reading:
        time.sleep(0.1)
    assert probe.slowdown(reading, everything) is not None
    assert probe.slowdown(reading, range(0)) is None  # no node: nothing to say


def test_a_segments_slowdown_is_its_own_nodes(tmp_path: Path) -> None:
    # the host's memory slowed: the fully connected node (2) far more than the convolution
    probe = _probe(tmp_path)
    probe.reference.samples += [10.0]
    probe.reference.nodes.update({0: [4.0, 4.2, 9.0], 1: [0.5], 2: [5.0]})
    now = Reading([11.0], {0: [4.2], 2: [7.0, 6.5, 7.5]})
    assert probe.slowdown(now) == pytest.approx(1.1)
    assert probe.slowdown(now, range(2)) == pytest.approx(1.0)  # node 1 untimed: left out
    assert probe.slowdown(now, range(2, 2**31)) == pytest.approx(1.4)
    assert probe.slowdown(now, range(2**31)) == pytest.approx(11.2 / 9.2)
