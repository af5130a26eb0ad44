"""Calibrating the validation's predictions on the one-tier runs (no broker, synthetic
profiles)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgesplit.bench import validation_report
from edgesplit.bench.checks import CutCheck, Validation
from edgesplit.bench.prediction import (
    StageCompute,
    at_host_speed,
    calibrate,
    calibration,
    factors,
    median_runs,
    per_frame,
    steady,
)
from edgesplit.orchestrator.costmodel import Candidate, predict
from edgesplit.stages.stats import BatchSample
from tests.orchestrator.synthetic import env_of, with_idle

UNIT, SIZES = [2.0, 2.0, 4.0, 8.0], [40_000, 20_000, 5_000]
ENV = env_of(UNIT, SIZES, 1.0, 1e8)  # edge at speed 1, cloud at speed 4


def _check(cut: int, measured: tuple[float | None, float | None]) -> CutCheck:
    pred = predict(Candidate((cut,), ("raw",), ("edge", "cloud")), ENV)
    ms = (pred.compute_ms[0], pred.compute_ms[1])
    return CutCheck(cut, "100mbit", 1e8, pred.throughput_fps, 10.0, True, 40, "", ms, measured)


def test_calibration_is_the_whole_models_measured_over_profiled_per_tier() -> None:
    # the whole model profiles at 14 ms a frame on the edge, 3.5 on the cloud (batches of 4)
    full = {4: 30}
    one_pass = {"edge": StageCompute(19.6, full), "cloud": StageCompute(4.375, full)}
    runs = calibration([one_pass], ENV.profiles)
    assert runs == {"edge": pytest.approx((1.4,)), "cloud": pytest.approx((1.25,))}
    assert factors(runs) == pytest.approx({"edge": 1.4, "cloud": 1.25})
    assert calibration([{"cloud": StageCompute(0.0, full)}], ENV.profiles) == {}  # nothing


def test_the_calibration_of_several_passes_is_the_median_of_theirs() -> None:
    # the same whole model on the same edge measured x0.95 to x1.19 its profile in short
    # runs minutes apart: one pass's factor would move every busy figure by as much
    full = {4: 30}
    passes = [
        {"edge": StageCompute(14.0 * f, full), "cloud": StageCompute(3.5, full)}
        for f in (1.19, 0.95, 1.02)
    ]
    runs = calibration(passes, ENV.profiles)
    assert runs["edge"] == pytest.approx((1.19, 0.95, 1.02))
    assert factors(runs) == pytest.approx({"edge": 1.02, "cloud": 1.0})
    v = Validation("m", 0.5, ("100mbit",), 4, links={"100mbit": 1e8}, repeats=3)
    v.calibration, v.calibration_runs = factors(runs), runs
    assert validation_report.headline(v)[0].startswith(
        "calibrated on the one-tier runs' stage metrics: "
        "edge x1.02 (median of 3 passes: x0.95-x1.19), cloud x1.00 (median of 3 passes: "
        "x1.00-x1.00)"
    )


def test_calibrated_predictions_scale_compute_and_keep_the_profiled_ones() -> None:
    checks = [_check(1, (3.0, 4.0)), _check(3, (11.0, 2.5))]
    out = calibrate(checks, ENV.profiles, {"edge": 1.5, "cloud": 1.0}, 4)
    for before, after in zip(checks, out, strict=True):
        assert after.profiled_ms == before.predicted_ms
        assert after.profiled_fps == before.predicted_fps
        assert after.predicted_ms[0] == pytest.approx(1.5 * before.predicted_ms[0])
        assert after.predicted_ms[1] == pytest.approx(before.predicted_ms[1])
        assert after.predicted_fps <= before.predicted_fps  # a slower edge, never faster
        assert after.ms_error(0, "profiled") == before.ms_error(0)


def test_calibration_scales_busy_figures_and_a_waiting_stage_keeps_its_figure_after_idle() -> None:
    # the factor comes from a busy one-tier stage: the cloud's x0.95 made ResNet-18's cloud
    # stages that wait for the edge 15-20% too fast
    cloud = with_idle(ENV.profiles["cloud"], 1.0)  # 1 ms more per run after idle
    env = replace(ENV, profiles={**ENV.profiles, "cloud": cloud})
    pred = predict(Candidate((3,), ("raw",), ("edge", "cloud")), env)
    assert pred.waits == (False, True)  # the edge is the bottleneck
    ms = (pred.compute_ms[0], pred.compute_ms[1])
    check = CutCheck(3, "100mbit", 1e8, pred.throughput_fps, 10.0, True, 40, "", ms, ms)
    busy, after_idle = cloud.cut(3).suffix_ms[4] / 4, cloud.cut(3).suffix_idle_ms[4] / 4
    (faster,) = calibrate([check], env.profiles, {"cloud": 0.8}, 4)
    assert faster.predicted_ms[1] == pytest.approx(after_idle)
    (slower,) = calibrate([check], env.profiles, {"cloud": 2.0}, 4)
    assert slower.predicted_ms[1] == pytest.approx(2.0 * busy)  # above the figure after idle
    assert 2.0 * busy > after_idle


def test_the_headline_gives_calibrated_and_profile_only_figures() -> None:
    raw = _check(2, (None, None)).predicted_ms
    measured = (1.4 * raw[0], raw[1])  # the edge runs 1.4x its profile, the cloud as profiled
    v = Validation("m", 0.5, ("100mbit",), 4, links={"100mbit": 1e8})
    v.calibration = {"edge": 1.4, "cloud": 1.0}
    v.cuts = calibrate([_check(2, measured)], ENV.profiles, v.calibration, 4)
    lines = validation_report.headline(v)
    assert lines[0].startswith("calibrated on the one-tier runs' stage metrics: edge x1.40")
    assert lines[1].startswith("edge stage compute within 15%: 1/1 cuts")
    assert lines[1].endswith("; profiles alone 0/1")
    assert lines[2].endswith("; profiles alone 1/1")


def test_predictions_at_each_runs_host_speed_scale_both_tiers_by_its_slowdown() -> None:
    raw = _check(2, (None, None)).predicted_ms
    slow = 1.3  # the host ran 1.3x slower than while profiled; compute did too
    checks = [
        replace(_check(2, (slow * raw[0], slow * raw[1])), slowdown=slow),
        _check(3, (1.0, 1.0)),  # no slowdown metered: no such prediction
    ]
    out = at_host_speed(checks, ENV.profiles, 4)
    assert out[0].at_speed_ms == pytest.approx((slow * raw[0], slow * raw[1]))
    assert out[0].at_speed_fps is not None and out[0].at_speed_fps < out[0].predicted_fps
    assert out[0].ms_error(0, "at_speed") == pytest.approx(0.0)
    assert out[0].ms_error(0) == pytest.approx(1 / slow - 1)  # the prediction itself stays
    assert out[1] == checks[1] and out[1].fps_error_of("at_speed") == out[1].fps_error
    v = Validation("m", 0.5, ("100mbit",), 4, links={"100mbit": 1e8}, cuts=out[:1])
    lines = validation_report.headline(v)
    assert lines[0].startswith("edge stage compute within 15%: 0/1 cuts")
    assert lines[0].endswith("; at each run's host speed 1/1")
    assert "profiles alone" not in lines[0]  # no calibration


def test_a_stage_that_ran_smaller_batches_is_predicted_at_their_sizes() -> None:
    ones = replace(_check(2, (None, 2.0)), batches=(None, {1: 20}))
    cloud = ENV.profiles["cloud"]
    at_one = cloud.cut(2).suffix_ms[1]  # a batch of one on the cloud, per frame
    (out,) = calibrate([ones], ENV.profiles, {}, 4)
    assert out.predicted_ms[1] == pytest.approx(at_one)
    assert out.predicted_ms[0] == ones.predicted_ms[0]  # the edge's batches are not known
    mixed = replace(ones, batches=(None, {1: 2, 4: 1}))  # 2 x one frame, 1 x four
    (out,) = calibrate([mixed], ENV.profiles, {}, 4)
    assert out.predicted_ms[1] == pytest.approx((2 * at_one + cloud.cut(2).suffix_ms[4]) / 6)
    assert mixed.frames_per_batch(1) == 2.0 and mixed.frames_per_batch(0) is None


def test_measured_compute_is_over_full_batches_where_they_hold_most_frames() -> None:
    assert per_frame([(4, 8.0), (4, 12.0), (1, 9.0)], 4) == (2.5, {4: 2})  # median of full
    # a stage behind a slow link: batches of one mostly, so all of them, with their sizes
    ms, used = per_frame([(1, 5.0), (1, 7.0), (1, 6.0), (2, 8.0), (4, 8.0)], 4)
    assert ms == pytest.approx(34.0 / 9) and used == {1: 3, 2: 1, 4: 1}
    # each size at its median: one batch of one that the host slowed 4x moves nothing
    ms, used = per_frame([(1, 5.0), (1, 24.0), (1, 6.0), (1, 6.0), (2, 8.0), (4, 8.0)], 4)
    assert ms == pytest.approx((4 * 6.0 + 8.0 + 8.0) / 10) and used == {1: 4, 2: 1, 4: 1}


def test_a_runs_compute_is_measured_once_the_pipeline_is_full() -> None:
    # warm-up frames (3), the first micro-batch after their round trip (slow), the rest
    run = [BatchSample(t, size, 0.0, ms, ms) for t, size, ms in [
        (10, 3, 11.0), (20, 4, 20.0), (30, 4, 14.0), (40, 4, 14.5), (50, 2, 7.0), (99, 4, 1.0)
    ]]  # fmt: skip
    assert [b.end_us for b in steady(run, 10, 50, 7)] == [30, 40, 50]
    assert [b.end_us for b in steady(list(reversed(run)), 10, 50, 7)] == [30, 40, 50]
    assert [b.end_us for b in steady(run, 0, 50, 0)] == [10, 20, 30, 40, 50]
    # a run too short to skip anything keeps all its batches
    assert [b.end_us for b in steady(run, 0, 20, 7)] == [10, 20]


def test_repeated_runs_become_one_check_of_their_medians_predicted_for_all_their_batches() -> None:
    # a plan measured again minutes later on the shared host moves by up to 20%
    runs = [
        replace(_check(2, (3.0, 1.0)), measured_fps=10.0, batches=({4: 5}, None), slowdown=1.0),
        replace(_check(2, (5.0, None)), measured_fps=12.0, batches=({2: 3}, None), slowdown=1.2),
        replace(_check(2, (4.0, 2.0)), measured_fps=11.0, batches=({4: 5}, None), steal=0.1),
    ]
    other = _check(3, (11.0, 2.5))
    first, second = median_runs([runs[0], other, *runs[1:]], ENV.profiles, 4)
    assert second == other  # measured once: as it was
    assert (first.cut, first.runs, first.frames) == (2, 3, 120)
    assert first.measured_fps == 11.0
    assert first.measured_ms == (4.0, 1.5)  # a stage's runs without a figure left out
    assert first.slowdown == 1.1 and first.steal == 0.1
    assert first.batches == ({4: 10, 2: 3}, None)
    alone = calibrate([replace(runs[0], batches=first.batches)], ENV.profiles, {}, 4)[0]
    assert first.predicted_ms == alone.predicted_ms  # for the batches of all three
    assert first.predicted_ms[0] != runs[0].predicted_ms[0]  # smaller batches cost more
