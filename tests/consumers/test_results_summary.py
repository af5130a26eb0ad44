from __future__ import annotations

from edgesplit.consumers.results import ResultsSummary
from edgesplit.schemas import Prediction, Result


def _result(i: int, label: int | None, top: int, capture_us: int = 0) -> Result:
    return Result(f"f{i}", "s", i, capture_us, 1, 1, (Prediction(top, 0.9),), None, label)


def test_latency_accuracy_and_duplicates() -> None:
    s = ResultsSummary()
    for i in range(10):
        s.add(_result(i, label=i % 2, top=0), received_us=1000 * (i + 1), produced_us=2000 * i)
    assert s.add(_result(3, label=1, top=0), received_us=99_000) is None  # again: a duplicate
    r = s.report()
    assert r.frames == 10 and r.duplicates == 1
    assert r.labelled == 10 and r.correct == 5 and r.accuracy == 0.5
    assert r.latency_ms["p50"] == 9.0  # capture (0) -> produced (2 ms * i)
    assert r.latency_ms["max"] == 18.0
    assert abs(r.throughput_fps - 9 / 0.018) < 1e-6  # from the produce timestamps
    assert r.per_version == {1: 10}


def test_no_labels_means_no_accuracy() -> None:
    s = ResultsSummary()
    s.add(_result(0, label=None, top=3), received_us=5)
    assert s.report().accuracy is None
