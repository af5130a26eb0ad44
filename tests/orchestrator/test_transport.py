"""The stage loop's CPU per record and per byte, measured by the real loop on a null model
through the real broker."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgesplit.config import KafkaSettings
from edgesplit.kafka.admin import ping
from edgesplit.orchestrator.graph import ModelGraph
from edgesplit.orchestrator.transport import (
    PREFIX,
    Clocks,
    measure_transport,
    null_model,
    per_record,
)


def test_the_null_model_passes_a_frame_through_a_cut(tmp_path: Path) -> None:
    path = null_model(tmp_path / "null.onnx", 16)
    graph = ModelGraph.load(path)
    assert [c.names for c in graph.cuts()] == [("act",)]
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(2, 16)
    (out,) = ort.InferenceSession(str(path)).run(None, {"frame": x})
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_a_paced_run_is_not_charged_the_process_idling_beside_its_loop() -> None:
    # 100 records over 2 s; idle, the process spends 20 ms a second beside the loop
    run = Clocks(main=0.05, total=0.14, wall=2.0)
    idle = Clocks(main=0.002, total=0.022, wall=1.0)
    main, total = per_record(run, idle, 100)
    assert main == pytest.approx(0.05 / 100)
    assert total == pytest.approx((0.14 - 0.02 * 2.0) / 100)
    # never below the loop's own thread, however long the run idled
    assert per_record(Clocks(0.05, 0.06, 60.0), idle, 100)[1] == pytest.approx(0.05 / 100)


@pytest.mark.kafka
def test_the_stage_loop_is_measured_and_leaves_no_topics(kafka: KafkaSettings) -> None:
    before = {t for t in ping(kafka).topics if t.startswith(PREFIX)}
    cost = measure_transport(kafka, 200e6, seconds=0.5)
    assert cost.codec_included
    # Python's loop costs tens of microseconds per record whatever the machine
    assert 5 <= cost.main_us_per_record <= 5000
    assert cost.total_us_per_record >= cost.main_us_per_record * 0.9
    assert cost.main_ns_per_byte >= 0 and cost.total_ns_per_byte >= 0
    deadline = time.monotonic() + 15
    while {t for t in ping(kafka).topics if t.startswith(PREFIX)} - before:
        assert time.monotonic() < deadline, "the probe's topics were not deleted"
        time.sleep(0.2)
