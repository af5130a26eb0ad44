"""`edgesplit bench validate`: the cost model against measurements, `plan auto` against the oracle.

On the emulated tiers (a CPU-quota edge behind a shaped uplink, the cloud on the host):

- prediction: every single-tensor cut is deployed as a 2-stage plan (edge | cloud) and
  measured at every uplink. Its measured stage compute (ONNX Runtime CPU time per frame
  from the stages' own metrics, over min(threads, the tier's CPUs) as the profile counts
  it; in full micro-batches, or predicted for the batch sizes a stage ran; both once the
  pipeline is full: after the warm-up frames and the first micro-batch, `prediction`)
  and throughput (frames/s once the pipeline is full: the answers after the first
  micro-batch's, `kafka_runs.steady_fps`) are set against what the cost model predicts
  from the two profiles;
- choice: at each uplink, the plan `plan auto` chooses from the profiles and the measured
  link is deployed and measured next to the best cut measured (the oracle), edge-only and
  cloud-only: first from the sweep, then side by side (the four plans one after another,
  `rounds` times), since on a shared host the sweep's figures lie minutes apart and the
  oracle is the highest of many noisy ones;
- calibration: in a pipeline a stage's ONNX Runtime time differs from what the profiler
  measures (on the shared testbed host x0.9-1.4, per tier and host), so the predictions
  are also made from the profiles' busy figures scaled per tier by what the whole model
  measured in the one-tier runs (edge-only, cloud-only: a busy stage each; run after each
  pass over the cuts, the median of their factors applied) -- what the orchestrator
  learns from the first plan's stage metrics. The report gives both.

A run is sized from its prediction (about `run_s` seconds of frames, at least STEADY_BATCHES
micro-batches where they take at most STEADY_S, two at the least), so that slow cuts at
slow uplinks still finish instead of hitting a budget, and a stage's compute is measured
over several batches after its first (`prediction.steady`).
"""

from __future__ import annotations

import functools
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from edgesplit.bench import kafka_runs as kr
from edgesplit.bench.checks import ChoiceCheck, CutCheck, Validation
from edgesplit.bench.prediction import (
    StageCompute,
    at_host_speed,
    calibrate,
    calibration,
    factors,
    median_runs,
    predicted_compute,
    stage_batches,
    stage_compute_ms,
)
from edgesplit.bench.rates import parse_rate
from edgesplit.bench.speed import SpeedProbe
from edgesplit.bench.testbed import Testbed
from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, StageError
from edgesplit.kafka.admin import delete_topics
from edgesplit.log import get_logger
from edgesplit.orchestrator import auto
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.costmodel import (
    Candidate,
    Environment,
    Prediction,
    predict,
)
from edgesplit.orchestrator.plan import BatchPolicy, Plan
from edgesplit.orchestrator.planner import Constraints
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.orchestrator.steal import MAX_STEAL, wait_calm
from edgesplit.producers.sources import Sample
from edgesplit.schemas.records import now_us

log = get_logger("bench.validate")
Progress = Callable[[str], None]
LinkProbe = Callable[[str], float]  # uplink setting -> measured payload bits/s
MAX_FRAMES = 5000  # per run (the real frames are cycled)
MAX_BYTES = 96 * 2**20  # of frames per run: about 670 photos of 224 x 224 x 3 bytes
LINK_READINGS = 3  # per uplink, the highest kept (`best_reading`)
# Micro-batches a run holds at least, where that takes at most STEADY_S (its first is not
# counted: `prediction.steady`). In six validations, edge stages of 1 ms or more measured
# over 0-4 batches missed their prediction by over 15% in 14 of 204 runs, over 5-11 in 0
# of 67, over 12 or more in 4 of 227; with 6 batches in at most 20 s, a run behind a
# 5 Mbit/s uplink measured its stages over one or two.
STEADY_BATCHES = 10
STEADY_S = 40.0
RUN_TRIES = 3  # runs at most of one plan while the hypervisor steals over MAX_STEAL


@dataclass
class _Ctx:
    model: str
    onnx: Path
    classes: str | None
    profiles: Mapping[str, TierProfile]
    settings: KafkaSettings
    testbed: Testbed
    where: kr.Where
    frames: Sequence[Sample]
    work: Path
    batch: int
    run_s: float
    progress: Progress
    speed: SpeedProbe | None = None
    plans: int = 0

    @property
    def skip(self) -> int:
        """Frames of a run before the pipeline is full: the warm-up frames and the first
        micro-batch (`prediction.steady`)."""
        return kr.WARMUP_FRAMES + self.batch

    def env(self, link_bps: float) -> Environment:
        return auto.environment(self.profiles, ("edge", "cloud"), {"edge": link_bps}, self.batch)

    def plan(self, cand: Candidate, name: str) -> tuple[Plan, Path]:
        self.plans += 1
        path = self.work / f"{name}.yaml"
        plan = build_plan(
            model_name=self.model,
            onnx_path=self.onnx,
            cut_specs=[str(c) for c in cand.cuts],
            out=path,
            encodings=list(cand.encodings) or ["raw"],
            tiers=list(cand.tiers),
            pipeline=f"validate-{name}-{int(time.time()) % 100000}-{self.plans}",
            batch=BatchPolicy(max_size=self.batch, max_wait_ms=2.0),
            classes=self.classes,
        )
        return plan, path

    def measure(self, plan: Plan, path: Path, where: kr.Where, fps: float) -> kr.RunFigures:
        """Throughput of about `run_s` seconds of frames, as many as predicted for that (at
        least STEADY_BATCHES micro-batches where they take at most STEADY_S); measured
        again if the hypervisor stole more than MAX_STEAL of the CPU (`less_stolen`)."""
        most = min(MAX_FRAMES, MAX_BYTES // self.profiles["edge"].frame_bytes)
        count = run_frames(fps, self.run_s, self.batch, most)
        frames = list(itertools.islice(itertools.cycle(self.frames), count))
        budget = min(max(3 * count / max(fps, 1e-3), 10.0), 120.0)
        run = functools.partial(
            kr.throughput, self.settings, plan, path, frames, where, budget_s=budget, seed=0
        )
        metered = functools.partial(self._metered, run)
        return less_stolen(metered(), metered)

    def _metered(self, run: Callable[[], kr.RunFigures]) -> kr.RunFigures:
        """`run`, with the host's slowdown during it where there is a SpeedProbe."""
        if self.speed is None:
            return run()
        with self.speed.metering() as reading:
            fig = run()
        return replace(fig, slowdown=self.speed.slowdown(reading))


def run_frames(fps: float, run_s: float, batch: int, most: int) -> int:
    """Frames for a run predicted at `fps`: about `run_s` seconds of them, at least
    STEADY_BATCHES micro-batches where they take at most STEADY_S, two at the least, at
    most `most`."""
    steady = min(STEADY_BATCHES * batch, fps * STEADY_S)
    return int(min(most, max(2 * batch, fps * run_s, steady)))


def best_reading(probe: LinkProbe, uplink: str, readings: int = LINK_READINGS) -> float:
    """The highest of `readings` probes of the uplink: other work on the host only ever
    slows a probe down, and one low reading (53 Mbit/s of a 100 Mbit/s uplink the runs
    then moved at 95, in an MNIST CNN validation) put every link-bound prediction 45% low."""
    return max(probe(uplink) for _ in range(readings))


def less_stolen(
    fig: kr.RunFigures,
    again: Callable[[], kr.RunFigures],
    calm: Callable[[], object] = wait_calm,
    tries: int = RUN_TRIES,
) -> kr.RunFigures:
    """`fig`, or where the hypervisor stole more than MAX_STEAL of the CPU during it, the
    least stolen of it and runs measured again (up to `tries` in all, each after waiting
    for the burst to pass: `calm`), a finished run before one that did not."""
    runs = [fig]
    while len(runs) < tries and _stolen(runs[-1]) and all(r.complete for r in runs):
        log.info(
            "run_stolen", steal=round(runs[-1].steal or 0, 3), fps=round(runs[-1].throughput_fps, 2)
        )
        calm()
        runs.append(again())
    return min(runs, key=lambda f: (not f.complete, f.steal or 0.0))


def _stolen(fig: kr.RunFigures) -> bool:
    return fig.steal is not None and fig.steal > MAX_STEAL


def validate(
    *,
    model: str,
    onnx: Path,
    classes: str | None,
    profiles: Mapping[str, TierProfile],
    settings: KafkaSettings,
    testbed: Testbed,
    frames: Sequence[Sample],
    uplinks: Sequence[str],
    link_probe: LinkProbe,
    batch: int = 4,
    run_s: float = 5.0,
    only_cuts: Sequence[int] = (),
    rounds: int = 3,
    repeats: int = 1,
    progress: Progress = lambda _: None,
    speed: SpeedProbe | None = None,
) -> Validation:
    """Measure every cut (or `only_cuts`) at every uplink, in `repeats` passes over the
    cuts (each check the median of its runs: `median_runs`), each pass followed by the
    one-tier plans (their medians: the calibration and the one-tier figures), then `plan
    auto`'s choice, and the choice against the oracle and the one-tier plans side by side
    `rounds` times; the testbed must be up. With `speed` (its reference sampled while the
    profiles were measured), each sweep run records the host's slowdown during it."""
    began = time.monotonic()
    tb = testbed.state()
    assert tb is not None, "the testbed must be up"
    edge = dep.Placement(wrap=testbed.wrap, bootstrap=tb.edge_bootstrap)
    order = tuple(sorted(uplinks, key=parse_rate, reverse=True))
    result = Validation(model, tb.edge_cpu, order, batch, repeats=repeats)
    result.profile_steal = {t: p.steal for t, p in profiles.items() if p.steal is not None}
    with tempfile.TemporaryDirectory(prefix="edgesplit-validate-") as tmp:
        ctx = _Ctx(
            model,
            onnx,
            classes,
            profiles,
            settings,
            testbed,
            kr.Where({"edge": edge}),
            frames,
            Path(tmp),
            batch,
            run_s,
            progress,
            speed,
        )
        for uplink in order:
            testbed.set(uplink=uplink)
            progress(f"probing the edge uplink at {uplink}")
            result.links[uplink] = best_reading(link_probe, uplink)
        cuts = auto.common_cuts(ctx.env(result.links[order[0]]))
        if only_cuts:
            unknown = sorted(set(only_cuts) - set(cuts))
            if unknown:
                raise ConfigError(f"no single-tensor cut {unknown} in both profiles")
            cuts = [c for c in cuts if c in only_cuts]
        # The one-tier plans in every pass too: the calibration is the median of theirs.
        one_tier: list[dict[str, tuple[dict[str, float], StageCompute | None]]] = []
        for rep in range(1, repeats + 1):
            of = f", pass {rep}/{repeats}" if repeats > 1 else ""
            for n, cut in enumerate(cuts, 1):
                progress(f"cut {cut} ({n}/{len(cuts)}{of})")
                result.cuts += _cut(ctx, cut, result.links)
            one_tier.append({t: _one_tier(ctx, t, result.links, of) for t in ("edge", "cloud")})
        result.cuts = median_runs(result.cuts, profiles, batch)
        one_tier_fps = {
            t: {u: statistics.median(p[t][0][u] for p in one_tier) for u in result.links}
            for t in ("edge", "cloud")
        }
        result.choices = _choices(ctx, result, one_tier_fps, rounds)
        wholes = [{t: ms for t, (_, ms) in p.items() if ms is not None} for p in one_tier]
        result.calibration_runs = calibration(wholes, profiles)
        result.calibration = factors(result.calibration_runs)
        result.cuts = calibrate(result.cuts, profiles, result.calibration, batch)
        result.cuts = at_host_speed(result.cuts, profiles, batch)
    result.seconds = time.monotonic() - began
    return result


def _cut(ctx: _Ctx, cut: int, links: Mapping[str, float]) -> list[CutCheck]:
    cand = Candidate((cut,), ("raw",), ("edge", "cloud"))
    plan, path = ctx.plan(cand, f"cut{cut}")
    runs: list[tuple[str, Prediction, kr.RunFigures, tuple[int, int]]] = []
    pending = list(links)
    try:
        while pending:
            with kr.deployed(path, plan, ctx.settings, ctx.work / "state", ctx.where):
                while pending:
                    uplink = pending.pop(0)
                    ctx.testbed.set(uplink=uplink)
                    pred = predict(cand, ctx.env(links[uplink]))
                    began = now_us()
                    fig = ctx.measure(plan, path, ctx.where, pred.throughput_fps)
                    runs.append((uplink, pred, fig, (began, now_us())))
                    if not fig.complete:
                        break  # frames still in flight would slow the next run: redeploy
    except StageError as exc:
        log.warning("cut_failed", cut=cut, error=str(exc))
        return []
    published, checks = stage_batches(ctx.settings, plan), []
    for uplink, pred, fig, during in runs:
        # Each run's own batches: a stage busy behind a wide uplink waits behind a thin one.
        measured = stage_compute_ms(published, plan, ctx.batch, ctx.profiles, [during], ctx.skip)
        mixes = (_batches(measured.get(0)), _batches(measured.get(1)))
        checks.append(
            CutCheck(
                cut,
                uplink,
                links[uplink],
                pred.throughput_fps,
                fig.throughput_fps,
                fig.complete,
                fig.answered,
                pred.bottleneck,
                predicted_compute(cut, ctx.profiles, mixes, pred),
                (_ms(measured.get(0)), _ms(measured.get(1))),
                mixes,
                steal=fig.steal,
                host_busy=fig.host_busy,
                slowdown=fig.slowdown,
            )
        )
    delete_topics(ctx.settings, [plan.topics.metrics])
    return checks


def _ms(m: StageCompute | None) -> float | None:
    return None if m is None else m.ms


def _batches(m: StageCompute | None) -> Mapping[int, int] | None:
    return None if m is None else m.batches


def _choices(
    ctx: _Ctx, result: Validation, one_tier: Mapping[str, Mapping[str, float]], rounds: int
) -> list[ChoiceCheck]:
    out = []
    for uplink in result.uplinks:
        env = ctx.env(result.links[uplink])
        choice = auto.choose(env, Constraints(max_stages=2), "throughput")
        w = choice.winner
        measured = _measured_split(result, w, uplink)
        if measured is None:
            ctx.progress(f"plan auto at {uplink}: {w.describe()}")
            plan, path = ctx.plan(w, f"auto-{uplink}")
            where = _where_for(ctx, w)
            with kr.deployed(path, plan, ctx.settings, ctx.work / "state", where):
                ctx.testbed.set(uplink=uplink)
                measured = ctx.measure(plan, path, where, choice.prediction.throughput_fps)
        oracle = max((c for c in result.cuts if c.uplink == uplink), key=lambda c: c.measured_fps)
        contenders = {
            "chosen": w,
            "oracle": Candidate((oracle.cut,), ("raw",), ("edge", "cloud")),
            "edge-only": Candidate((), (), ("edge",)),
            "cloud-only": Candidate((), (), ("cloud",)),
        }
        side = _side_by_side(ctx, uplink, env, contenders, rounds) if rounds > 0 else {}
        out.append(
            ChoiceCheck(
                uplink,
                w.describe(),
                choice.prediction.throughput_fps,
                measured.throughput_fps,
                oracle.cut,
                oracle.measured_fps,
                one_tier["edge"][uplink],
                one_tier["cloud"][uplink],
                rounds={k: tuple(f.throughput_fps for f in figs) for k, figs in side.items()},
                rounds_steal={k: tuple(f.steal for f in figs) for k, figs in side.items()},
                rounds_slowdown={k: tuple(f.slowdown for f in figs) for k, figs in side.items()},
            )
        )
    return out


def _side_by_side(
    ctx: _Ctx, uplink: str, env: Environment, contenders: Mapping[str, Candidate], rounds: int
) -> dict[str, list[kr.RunFigures]]:
    """Each contender measured one after another, `rounds` times (the order turned each
    round), each run on a plan of its own (fresh topics and groups)."""
    unique = list(dict.fromkeys(contenders.values()))
    runs: dict[Candidate, list[kr.RunFigures]] = {c: [] for c in unique}
    ctx.testbed.set(uplink=uplink)
    for r in range(rounds):
        for cand in unique[r % len(unique) :] + unique[: r % len(unique)]:
            ctx.progress(f"side by side at {uplink}, round {r + 1}/{rounds}: {cand.describe()}")
            plan, path = ctx.plan(cand, f"side-{uplink}")
            where = _where_for(ctx, cand)
            with kr.deployed(path, plan, ctx.settings, ctx.work / "state", where):
                fig = ctx.measure(plan, path, where, predict(cand, env).throughput_fps)
            delete_topics(ctx.settings, [plan.topics.metrics])
            if fig.answered:
                runs[cand].append(fig)
            else:
                log.warning("side_by_side_run_failed", uplink=uplink, plan=cand.describe())
    return {name: runs[c] for name, c in contenders.items()}


def _measured_split(result: Validation, w: Candidate, uplink: str) -> kr.RunFigures | None:
    """The sweep's measurement of the winner, when it is one of the cuts swept."""
    if w.tiers != ("edge", "cloud") or w.encodings != ("raw",):
        return None
    for c in result.cuts:
        if c.cut == w.cuts[0] and c.uplink == uplink:
            return kr.RunFigures(
                c.frames, c.measured_fps, c.complete, c.steal, c.host_busy, c.slowdown
            )
    return None


def _where_for(ctx: _Ctx, cand: Candidate) -> kr.Where:
    if cand.tiers[0] == "edge":
        return ctx.where
    return kr.Where(ctx.where.placements, producer_on_edge=True)  # the camera is on the edge


def _one_tier(
    ctx: _Ctx, tier: str, links: Mapping[str, float], of: str = ""
) -> tuple[dict[str, float], StageCompute | None]:
    """The whole model on `tier`: frames/s per uplink, and its compute per frame (`of`:
    which pass, for the progress line)."""
    name = f"{tier}-only"
    cand = Candidate((), (), (tier,))
    plan, path = ctx.plan(cand, name)
    where = _where_for(ctx, cand)
    out, runs = {}, []
    with kr.deployed(path, plan, ctx.settings, ctx.work / "state", where):
        for uplink, link in links.items():
            ctx.progress(f"{name} at {uplink}{of}")
            ctx.testbed.set(uplink=uplink)
            pred = predict(cand, ctx.env(link))
            began = now_us()
            out[uplink] = ctx.measure(plan, path, where, pred.throughput_fps).throughput_fps
            runs.append((began, now_us()))
    published = stage_batches(ctx.settings, plan)
    compute = stage_compute_ms(published, plan, ctx.batch, ctx.profiles, runs, ctx.skip).get(0)
    delete_topics(ctx.settings, [plan.topics.metrics])
    return out, compute
