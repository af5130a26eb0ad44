"""Scenarios load (shipped ones too) and a run's report says what was measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesplit.bench.measure import Measurement
from edgesplit.bench.report import ratios, write
from edgesplit.bench.runner import BenchRun
from edgesplit.bench.scenario import find_scenario, load_scenario, shipped
from edgesplit.errors import ConfigError


def test_shipped_scenarios_load() -> None:
    names = shipped()
    assert {"mobilenet_v2", "mnist_cnn"} <= set(names)
    mobilenet = load_scenario(find_scenario("mobilenet_v2"))
    assert mobilenet.edge_cpu == 0.5
    assert set(mobilenet.uplinks) == {"5mbit", "20mbit", "100mbit"}
    assert "every-cut" in mobilenet.strategies and "rpc" in mobilenet.strategies


def test_bad_scenarios_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: mnist_cnn\nuplinks: []\nstrategies: [teleport]\n")
    with pytest.raises(ConfigError, match=r"uplinks: .*at least 1.*strategies\.0"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="no shipped scenario"):
        find_scenario("nope")
    planless = tmp_path / "p.yaml"
    planless.write_text("name: x\nmodel: mnist_cnn\nuplinks: [1mbit]\nstrategies: [plan]\n")
    with pytest.raises(ConfigError, match=r"needs `plan: PLAN\.yaml`"):
        load_scenario(planless)


def test_report_tables_ratios_and_plots(tmp_path: Path) -> None:
    run = BenchRun(load_scenario(find_scenario("mnist_cnn")), tmp_path, seconds=60.0)
    run.cut_bytes = {3: 4096, 9: 1024}
    run.rows = [
        Measurement("unsplit", "", None, 200, 900.0, 1.0, 2.0, 0.0),
        Measurement("split", "20mbit", 3, 200, 300.0, None, None, 4200.0),
        Measurement("split", "20mbit", 9, 120, 100.0, None, None, 1100.0, complete=False),
        Measurement("oracle", "20mbit", 3, 200, 300.0, 20.0, 40.0, 4200.0, steal=0.31),
        Measurement("rpc", "20mbit", 3, 200, 400.0, 10.0, 15.0, 4100.0, steal=0.02),
    ]
    assert ratios(run, "20mbit") == (0.75, 2.0)
    written = write(run)
    summary = (tmp_path / "summary.md").read_text()
    assert "| oracle | 3 | 300.0 | 20.0 | 40.0 | 4.1 | 31% |" in summary
    assert "| unsplit |  | 900.0 | 1.0 | 2.0 | 0.0 | - |" in summary  # steal not known
    # a run that lost a third of the CPU to the hypervisor reads slow: the reader is told
    steal = "CPU steal during the throughput runs: median 16.5%, most 31%; 1/2 runs over 10%"
    assert steal in summary
    assert "throughput 0.75x, p50 latency 2.00x" in summary
    assert "| 9 | 1.0 | 100.0* |" in summary  # incomplete runs are lower bounds
    assert {p.name for p in written} >= {
        "measurements.csv",
        "summary.md",
        "cuts.png",
        "strategies.png",
    }
