"""The host's slowdown: a fixed ONNX Runtime run timed, against the profiles' moment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesplit.bench.speed import SpeedProbe
from edgesplit.orchestrator.transport import null_model


def _probe(tmp_path: Path) -> SpeedProbe:
    return SpeedProbe(null_model(tmp_path / "null.onnx", 64), np.ones(64, np.float32))


def test_a_reading_times_the_model(tmp_path: Path) -> None:
    assert _probe(tmp_path).ms() > 0


def test_the_slowdown_is_against_the_mean_of_the_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = _probe(tmp_path)
    readings = iter([10.0, 12.0, 16.5])
    monkeypatch.setattr(probe, "ms", lambda: next(readings))
    assert probe.slowdown() is None  # no reference yet: nothing to say
    probe.mark()  # before the profiles
    probe.mark()  # after them
    assert probe.slowdown() == pytest.approx(16.5 / 11.0)
