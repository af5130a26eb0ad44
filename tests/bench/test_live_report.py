"""The live benchmark's summary: what was answered, and how much of the CPU was stolen."""

from __future__ import annotations

from edgesplit.bench.live import LiveRun, default_slow, per_second, summary


def test_the_summary_counts_frames_and_says_how_much_was_stolen() -> None:
    run = LiveRun("scale", "p", 20.0, sent=40, answered=40, started_at=100.0, steal=0.27)
    run.answers = [(100.0 + i / 20, 1) for i in range(40)]
    lines = summary(run)
    assert lines[0] == "# scale: pipeline p, 40 frames at 20 Hz"
    assert "- answered 40/40 distinct frames, 0 duplicates, 0 missing" in lines
    assert any(line.startswith("- the hypervisor stole 27% of the host's CPU") for line in lines)
    assert per_second(run) == [{"second": 0, "v1": 20}, {"second": 1, "v1": 20}]


def test_no_steal_line_where_it_could_not_be_read() -> None:
    run = LiveRun("scale", "p", 20.0, sent=1, answered=1)
    assert not any("stole" in line for line in summary(run))


def test_the_default_slow_stage_falls_behind_alone_and_keeps_up_with_a_replica() -> None:
    for rate in (5.0, 20.0, 60.0):
        stage, ms = default_slow(rate).split(":")
        interval_ms = 1000 / rate
        assert stage == "1"
        assert interval_ms < float(ms) < 2 * interval_ms  # behind alone, not with two


def test_a_scale_run_without_a_replica_says_so() -> None:
    run = LiveRun("scale", "p", 20.0, sent=1, answered=1)
    assert any(line.startswith("- no replica was added") for line in summary(run))
    assert not any("replica" in line for line in summary(LiveRun("resplit", "p", 20.0)))
