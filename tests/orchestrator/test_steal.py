"""CPU steal from /proc/stat, and a validation run measured again when much was stolen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgesplit.bench.kafka_runs import RunFigures
from edgesplit.bench.validate import less_stolen
from edgesplit.orchestrator import steal
from edgesplit.orchestrator.steal import MAX_STEAL


def _stat(path: Path, steal_jiffies: int, idle: int) -> None:
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(f"cpu  100 0 50 {idle} 0 0 0 {steal_jiffies} 0 0\ncpu0 1 2 3\n")


@pytest.fixture
def stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A /proc/stat of our own: 1,000 jiffies so far, 10 stolen, 840 idle."""
    path = tmp_path / "stat"
    monkeypatch.setattr(steal, "PROC_STAT", path)
    _stat(path, 10, 840)
    return path


def test_the_share_stolen_between_two_readings(stat: Path) -> None:
    before = steal.CpuClock.now()
    assert before == steal.CpuClock(steal=10, total=1000, idle=840)
    _stat(stat, 35, 915)  # 100 more jiffies, 25 of them stolen
    assert steal.steal_since(before) == pytest.approx(0.25)
    assert steal.steal_since(steal.CpuClock.now()) is None  # no time went by
    assert steal.steal_since(None) is None


def test_the_share_busy_between_two_readings(stat: Path) -> None:
    before = steal.CpuClock.now()
    _stat(stat, 30, 900)  # 80 more jiffies: 20 stolen, 60 idle, so 0 of 60 busy
    assert steal.busy_since(before) == pytest.approx(0.0)
    stat.write_text("cpu  130 0 70 900 0 0 0 30 0 0\n")  # then 50 busy, 0 idle
    assert steal.busy_since(before) == pytest.approx(50 / 110)
    assert steal.busy_since(None) is None


def test_no_proc_stat_no_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steal, "PROC_STAT", tmp_path / "absent")
    assert steal.CpuClock.now() is None
    short = tmp_path / "short"
    short.write_text("cpu  1 2 3 4\n")  # a kernel without the steal column
    monkeypatch.setattr(steal, "PROC_STAT", short)
    assert steal.CpuClock.now() is None


def test_this_machine_has_a_steal_column() -> None:
    assert steal.CpuClock.now() is not None  # CI runs on Linux: the figure is never missing


def _never() -> RunFigures:
    raise AssertionError("measured again")


def test_a_run_the_hypervisor_slowed_is_measured_once_more() -> None:
    calm = RunFigures(100, 20.0, True, 0.01)
    assert less_stolen(calm, _never, _no_wait) is calm
    unknown = RunFigures(100, 20.0, True, None)
    assert less_stolen(unknown, _never, _no_wait) is unknown
    cut_short = RunFigures(40, 8.0, False, 0.5)  # frames still in flight: redeploy instead
    assert less_stolen(cut_short, _never, _no_wait) is cut_short

    stolen = RunFigures(100, 15.0, True, MAX_STEAL + 0.2)
    second = RunFigures(100, 20.0, True, 0.02)
    assert less_stolen(stolen, _runs(second), _no_wait) is second
    worse = RunFigures(100, 12.0, True, MAX_STEAL + 0.3)
    assert less_stolen(stolen, _runs(worse, worse), _no_wait) is stolen  # not the faster
    unfinished = RunFigures(50, 10.0, False, 0.0)
    assert less_stolen(stolen, _runs(unfinished), _no_wait) is stolen  # a finished one first


def test_a_stolen_run_is_measured_up_to_three_times_each_after_the_burst() -> None:
    waits: list[int] = []
    stolen = RunFigures(100, 15.0, True, MAX_STEAL + 0.2)
    still = RunFigures(100, 16.0, True, MAX_STEAL + 0.1)
    third = RunFigures(100, 20.0, True, 0.03)
    assert less_stolen(stolen, _runs(still, third), lambda: waits.append(1)) is third
    assert len(waits) == 2
    always = RunFigures(100, 15.0, True, 0.5)
    assert less_stolen(stolen, _runs(always, always), _no_wait, tries=3) is stolen


def test_waiting_for_calm_stops_at_the_first_calm_window_or_the_deadline() -> None:
    readings = iter([0.4, 0.3, 0.05, 0.5])
    assert steal.wait_calm(10.0, lambda: next(readings)) == 0.05
    assert next(readings) == 0.5  # no window read after the calm one
    assert steal.wait_calm(0.0, lambda: 0.6) == 0.6  # the deadline: the last reading
    assert steal.wait_calm(10.0, lambda: None) is None  # steal unknown: no waiting


def test_a_busy_window_reads_the_steal_of_this_machine() -> None:
    stolen = steal.spin_steal(0.2)
    assert stolen is not None and 0.0 <= stolen <= 1.0


def _no_wait() -> None:
    pass


def _runs(*figs: RunFigures) -> Callable[[], RunFigures]:
    queue = list(figs)
    return lambda: queue.pop(0)
