"""Calibrating the validation's predictions on one deployed cut (no broker, synthetic profiles)."""

from __future__ import annotations

from edgesplit.bench import validation_report
from edgesplit.bench.validate import (
    CutCheck,
    Validation,
    calibrate,
    calibration,
    calibration_cut,
)
from edgesplit.orchestrator.costmodel import Candidate, predict
from tests.orchestrator.synthetic import env_of

UNIT, SIZES = [2.0, 2.0, 4.0, 8.0], [40_000, 20_000, 5_000]


def _check(cut: int, measured: tuple[float, float], link: float = 1e8) -> CutCheck:
    env = env_of(UNIT, SIZES, 1.0, link)
    pred = predict(Candidate((cut,), ("raw",), ("edge", "cloud")), env)
    ms = (pred.compute_ms[0], pred.compute_ms[1])
    return CutCheck(cut, "100mbit", link, pred.throughput_fps, 10.0, True, 40, "", ms, measured)


def test_the_calibration_cut_weighs_both_tiers() -> None:
    env = env_of(UNIT, SIZES, 1.0, 1e8)
    # edge at speed 1, cloud at speed 4: cut 3 leaves the cloud 8/4 = 2 ms against 8 on the
    # edge; cut 2 leaves it 12/4 = 3 ms against 4 -- the largest smaller share
    assert calibration_cut(env, [1, 2, 3]) == 2
    assert calibration_cut(env, []) is None


def test_calibration_is_measured_over_profiled_per_tier() -> None:
    c = _check(2, (0.0, 0.0))
    edge, cloud = c.predicted_ms
    scale = calibration(_check(2, (1.4 * edge, 1.25 * cloud)))
    assert abs(scale["edge"] - 1.4) < 1e-9 and abs(scale["cloud"] - 1.25) < 1e-9
    assert calibration(_check(2, (None, 2.0 * cloud))).keys() == {"cloud"}  # type: ignore[arg-type]


def test_calibrated_predictions_scale_compute_and_keep_the_profiled_ones() -> None:
    env = env_of(UNIT, SIZES, 1.0, 1e8)
    checks = [_check(1, (3.0, 4.0)), _check(3, (11.0, 2.5))]
    out = calibrate(checks, env.profiles, {"edge": 1.5, "cloud": 1.0}, 4)
    for before, after in zip(checks, out, strict=True):
        assert after.profiled_ms == before.predicted_ms
        assert after.profiled_fps == before.predicted_fps
        assert abs(after.predicted_ms[0] - 1.5 * before.predicted_ms[0]) < 1e-6
        assert abs(after.predicted_ms[1] - before.predicted_ms[1]) < 1e-6
        assert after.predicted_fps <= before.predicted_fps  # a slower edge, never faster
        assert after.ms_error(0, profiled=True) == before.ms_error(0)


def test_the_headline_gives_calibrated_and_profile_only_figures() -> None:
    env = env_of(UNIT, SIZES, 1.0, 1e8)
    raw = _check(2, (0.0, 0.0)).predicted_ms
    measured = (1.4 * raw[0], raw[1])  # the edge runs 1.4x its profile, the cloud as profiled
    v = Validation("m", 0.5, ("100mbit",), 4, links={"100mbit": 1e8})
    v.calibration_cut = 2
    v.calibration = calibration(_check(2, measured))
    v.cuts = calibrate([_check(2, measured)], env.profiles, v.calibration, 4)
    lines = validation_report.headline(v)
    assert lines[0].startswith("calibrated on cut 2's stage metrics: edge x1.40, cloud x1.00")
    assert lines[1].startswith("edge stage compute within 15%: 1/1 cuts") and lines[1].endswith(
        "; profiles alone 0/1"
    )
    assert lines[2].endswith("; profiles alone 1/1")
