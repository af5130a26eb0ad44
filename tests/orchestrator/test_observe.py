"""What the orchestrator reads from stage metrics: utilization, compute in full batches."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from edgesplit.orchestrator.costmodel import Prediction
from edgesplit.orchestrator.observe import (
    StageView,
    _compute_scale,
    link_estimate,
    measured_compute_ms,
    stage_views,
)
from edgesplit.orchestrator.plan import Plan
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.stages.metrics import StageMetrics
from edgesplit.stages.stats import BatchSample


def _stage(index: int, tier: str) -> SimpleNamespace:
    return SimpleNamespace(index=index, tier=tier, threads=1, batch=SimpleNamespace(max_size=4))


def _plan() -> Plan:
    stages = [_stage(0, "edge"), _stage(1, "cloud")]
    return cast(Plan, SimpleNamespace(pipeline="p", version=2, stages=stages))


def _window(
    stage: int, start_s: float, batches: list[tuple[int, float]], **kw: Any
) -> StageMetrics:
    fields: dict[str, Any] = dict(
        pipeline="p", plan_version=2, stage=stage, tier="edge" if stage == 0 else "cloud",
        instance="i0", window_start_us=int(start_s * 1e6), window_end_us=int((start_s + 2) * 1e6),
        frames_in=0, frames_out=0, dead_letters=0, batches=len(batches),
        batch_frames=sum(b for b, _ in batches), bytes_in=0, bytes_out=0,
        compute_s=sum(ms for _, ms in batches) / 1000, decode_s=0.0, encode_s=0.0, wait_s=0.0,
        produce_blocked_s=0.0, cpu_s=0.0, rss_bytes=0,
        batch_samples=tuple(BatchSample(0, b, 0.0, ms) for b, ms in batches),
    )  # fmt: skip
    fields.update(kw)
    return StageMetrics(**fields)


def test_views_use_full_batches_for_compute_and_all_time_for_utilization() -> None:
    windows = [
        _window(0, 100, [(4, 40.0)] * 20 + [(1, 30.0)] * 5, bytes_out=2_000_000),  # 950 ms busy
        _window(1, 100, [(4, 8.0)] * 10),
        _window(0, 100, [(4, 40.0)], pipeline="other"),  # another pipeline: ignored
        _window(0, 100, [(4, 400.0)], plan_version=1),  # an older version: ignored
        _window(0, 10, [(4, 400.0)]),  # too old
    ]
    views = stage_views(windows, _plan(), since_us=50e6)
    assert views[0].compute_ms == 10.0  # 40 ms per batch of 4; batches of 1 left out
    assert abs(views[0].utilization - 0.95 / 2) < 1e-9
    assert views[0].bytes_out_per_s == 1_000_000
    assert views[1].compute_ms == 2.0 and views[1].frames == 40


def test_compute_scale_only_outside_the_dead_band() -> None:
    views = stage_views(
        [_window(0, 100, [(4, 40.0)] * 20), _window(1, 100, [(4, 8.0)] * 20)], _plan(), 0
    )
    pred = Prediction(
        10.0, 50.0, (5.0, 1.0), (5.0, 1.8), (False, True), (0.0, 0.1), (), (), "stage 0 (edge)"
    )
    # edge measured 10 ms against 5 predicted: 2x slower; cloud 2.0 against 1.8: within the band
    assert _compute_scale(_plan(), pred, views, {}) == {"edge": 2.0}


def test_compute_is_cpu_time_over_the_cpus_the_tier_has() -> None:
    windows = [
        _window(0, 100, [(4, 90.0)] * 20, batch_samples=(BatchSample(0, 4, 0.0, 90.0, 20.0),) * 20)
    ]
    view = stage_views(windows, _plan(), 0)[0]
    assert view.compute_ms == 22.5 and view.cpu_ms == 5.0
    edge = cast(TierProfile, SimpleNamespace(cpus=0.5))
    # a 0.5-CPU tier: 5 ms of CPU per frame take 10 ms (the quota), whatever the wall
    # time of one batch said (throttled or not)
    assert measured_compute_ms(view.cpu_ms, view.compute_ms, 1, edge) == 10.0
    assert measured_compute_ms(None, view.compute_ms, 1, edge) == 22.5  # no CPU time kept
    pred = Prediction(
        10.0, 50.0, (10.0, 1.0), (10.0, 1.0), (False, True), (0.0, 0.1), (), (), "stage 0 (edge)"
    )
    assert _compute_scale(_plan(), pred, {0: view}, {"edge": edge}) == {}


def test_a_stage_blocked_on_its_producer_shows_the_link_it_has() -> None:
    sending = StageView(40, 0.5, 10.0, 5.0, 600_000, 1, blocked=0.0)
    assert link_estimate(20e6, [sending]) == 20e6 + 4.8e6  # the probe shared the link
    full = StageView(40, 0.2, 10.0, 5.0, 600_000, 1, blocked=0.6)
    assert link_estimate(100e6, [full]) == 4.8e6  # a stale probe: the stage knows better
    assert link_estimate(100e6, []) == 100e6
