"""`edgesplit bench run`: every strategy of a scenario, on the same frames and tiers.

The testbed emulates the edge (a CPU quota and a shaped uplink); uplinks are swept by
changing the shaping live, fastest first, so a deployment serves every uplink. Strategies:

- every-cut: every valid single-tensor cut, edge stage on the edge, cloud stage on the
  host; the best cut per uplink is the measured oracle (its latency measured too);
- edge-only: the whole model on the edge, results sent up;
- cloud-only / cloud-only-jpeg: the camera on the edge sends frames (raw uint8, or
  JPEG) up to the whole model on the host;
- rpc: the direct gRPC pipeline at the oracle's cut (edge client, host server);
- plan: a chosen plan file, tiers as it says;
- unsplit: the whole model in one process on the host (no network).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesplit.bench import kafka_runs as kr
from edgesplit.bench.frames import real_frames
from edgesplit.bench.measure import Measurement, percentiles
from edgesplit.bench.rates import parse_rate
from edgesplit.bench.scenario import Scenario
from edgesplit.bench.testbed import Testbed, TestbedConfig
from edgesplit.broker import LocalBroker
from edgesplit.config import KafkaSettings, cache_dir, state_dir
from edgesplit.errors import StageError
from edgesplit.log import get_logger
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.plan import BatchPolicy, Plan, load_plan
from edgesplit.orchestrator.steal import CpuClock, steal_since
from edgesplit.producers.sources import Sample
from edgesplit.stages.executor import Executor

log = get_logger("bench.run")
Progress = Callable[[str], None]


@dataclass
class BenchRun:
    scenario: Scenario
    out: Path
    rows: list[Measurement] = field(default_factory=list)
    cut_bytes: dict[int, int] = field(default_factory=dict)  # raw bytes per frame of each cut
    seconds: float = 0.0


class _Context:
    """What every strategy needs: the scenario, the broker, the testbed, the frames."""

    def __init__(
        self,
        scenario: Scenario,
        scenario_dir: Path,
        settings: KafkaSettings,
        testbed: Testbed,
        workdir: Path,
        progress: Progress,
    ) -> None:
        from edgesplit.models.export import ensure_onnx  # noqa: PLC0415 - torch, once

        self.s = scenario
        self.dir = scenario_dir
        self.settings = settings
        self.testbed = testbed
        self.work = workdir
        self.progress = progress
        self.state = workdir / "state"
        self.onnx = ensure_onnx(scenario.model, cache_dir())
        self.uplinks = sorted(scenario.uplinks, key=parse_rate, reverse=True)
        tb = testbed.state()
        assert tb is not None
        self.edge = dep.Placement(wrap=testbed.wrap, bootstrap=tb.edge_bootstrap)
        self.host_ip = tb.host_ip
        self.frames: list[Sample] = []
        self.plans = 0
        self.whole, _ = self.plan([], ["cloud"], "whole")  # the unsplit model as a plan

    def plan(self, cuts: list[str], tiers: list[str], name: str) -> tuple[Plan, Path]:
        from edgesplit.models.zoo import get_model  # noqa: PLC0415

        self.plans += 1
        path = self.work / f"{name}.yaml"
        plan = build_plan(
            model_name=self.s.model,
            onnx_path=self.onnx,
            cut_specs=cuts,
            out=path,
            encodings=[self.s.encoding],
            tiers=tiers,
            pipeline=f"bench-{name}-{int(time.time()) % 100000}-{self.plans}",
            batch=BatchPolicy(max_size=self.s.batch, max_wait_ms=2.0),
            classes=get_model(self.s.model).classes,
        )
        return plan, path

    def latency(
        self, plan: Plan, path: Path, where: kr.Where, throughput_fps: float
    ) -> tuple[float, float] | None:
        """p50/p95 capture -> result at half the throughput measured."""
        return kr.latency(
            self.settings,
            plan,
            path,
            self.frames,
            where,
            rate_hz=max(0.5 * throughput_fps, 0.1),
            budget_s=self.s.budget_s,
            seed=self.s.seed,
            frames=self.s.latency_frames,
        )

    def set_uplink(self, uplink: str) -> None:
        self.testbed.set(uplink=uplink)


def run(
    scenario: Scenario,
    scenario_path: Path,
    out: Path,
    settings: KafkaSettings,
    broker: LocalBroker,
    *,
    progress: Progress = lambda _: None,
) -> BenchRun:
    began = time.monotonic()
    result = BenchRun(scenario, out)
    out.mkdir(parents=True, exist_ok=True)
    testbed = Testbed(state_dir(), broker)
    progress(f"bringing the testbed up (edge: {scenario.edge_cpu} CPU)")
    testbed.up(TestbedConfig(edge_cpu=scenario.edge_cpu, uplink=scenario.uplinks[0]))
    try:
        with tempfile.TemporaryDirectory(prefix="edgesplit-bench-") as tmp:
            ctx = _Context(scenario, scenario_path.parent, settings, testbed, Path(tmp), progress)
            progress(f"preparing {scenario.frames} real frames")
            ctx.frames = real_frames(ctx.whole, scenario.frames, seed=scenario.seed)
            _run_all(ctx, result)
    finally:
        progress("tearing the testbed down")
        testbed.down()
    result.seconds = time.monotonic() - began
    return result


def _run_all(ctx: _Context, result: BenchRun) -> None:
    s = ctx.s
    if "unsplit" in s.strategies:
        result.rows.append(_unsplit(ctx))
    best: dict[str, int] = {}
    if "every-cut" in s.strategies or "rpc" in s.strategies:
        best = _every_cut(ctx, result, record="every-cut" in s.strategies)
    if "edge-only" in s.strategies:
        result.rows += _kafka(ctx, "edge-only", [], ["edge"], kr.Where({"edge": ctx.edge}))
    for strategy, encoding in (("cloud-only", "raw"), ("cloud-only-jpeg", "jpeg")):
        if strategy in s.strategies:
            where = kr.Where({"edge": ctx.edge}, producer_on_edge=True, frame_encoding=encoding)
            result.rows += _kafka(ctx, strategy, [], ["cloud"], where)
    if "rpc" in s.strategies and best:
        result.rows += _rpc(ctx, best)
    if "plan" in s.strategies and s.plan:
        result.rows += _chosen_plan(ctx, ctx.dir / s.plan)


# --- strategies ------------------------------------------------------------------------


def _unsplit(ctx: _Context) -> Measurement:
    ctx.progress("the unsplit model in one process")
    plan = ctx.whole
    ex = Executor(ctx.onnx, [plan.model.input], [plan.model.output])
    frames = np.stack([f.array for f in ctx.frames])
    ex.warm_up(ctx.s.batch)
    best = float("inf")
    times: list[float] = []
    before = CpuClock.now()
    for _ in range(3):
        pass_times = []
        for lo in range(0, len(frames), ctx.s.batch):
            t0 = time.perf_counter()
            ex.run({plan.model.input.name: frames[lo : lo + ctx.s.batch]})
            pass_times.append(time.perf_counter() - t0)
        if sum(pass_times) < best:
            best, times = sum(pass_times), pass_times
    p50, p95 = percentiles([t * 1000 for t in times])
    return Measurement(
        "unsplit",
        "",
        None,
        len(frames),
        len(frames) / best,
        p50,
        p95,
        0.0,
        note="1 process on the host, batch latency",
        steal=steal_since(before),
    )


def _every_cut(ctx: _Context, result: BenchRun, *, record: bool) -> dict[str, int]:
    """Every single-tensor cut at every uplink; returns the best cut per uplink."""
    from edgesplit.orchestrator.graph import ModelGraph  # noqa: PLC0415

    cuts = [c for c in ModelGraph.load(ctx.onnx).cuts() if c.single]
    where = kr.Where({"edge": ctx.edge})
    sweep: dict[tuple[int, str], Measurement] = {}
    sizes: dict[str, float] = {}
    for n, cut in enumerate(cuts, 1):
        result.cut_bytes[cut.index] = cut.bytes_per_frame
        ctx.progress(f"cut {cut.index} ({n}/{len(cuts)})")
        plan, path = ctx.plan([str(cut.index)], ["edge", "cloud"], f"cut{cut.index}")

        def measure(
            uplink: str, plan: Plan = plan, path: Path = path, cut: int = cut.index
        ) -> Measurement:
            fig = kr.throughput(
                ctx.settings,
                plan,
                path,
                ctx.frames,
                where,
                budget_s=ctx.s.budget_s,
                seed=ctx.s.seed,
            )
            sent = sizes.get(plan.cuts[0].topic)
            if sent is None:  # what crosses the uplink does not depend on its rate
                sent = sizes[plan.cuts[0].topic] = kr.uplink_bytes(ctx.settings, plan.cuts[0].topic)
            return Measurement(
                "split",
                uplink,
                cut,
                fig.answered,
                fig.throughput_fps,
                None,
                None,
                sent,
                fig.complete,
                steal=fig.steal,
            )

        try:
            for m in _sweep(ctx, plan, path, where, measure):
                sweep[(cut.index, m.uplink)] = m
        except StageError as exc:
            log.warning("cut_failed", cut=cut.index, error=str(exc))
    best = {
        u: max((m for (c, up), m in sweep.items() if up == u), key=lambda m: m.throughput_fps).cut
        or 0
        for u in ctx.uplinks
        if any(up == u for _, up in sweep)
    }
    if record:
        result.rows += list(sweep.values())
        result.rows += _oracle_latency(ctx, best, sweep)
    return best


def _oracle_latency(
    ctx: _Context, best: dict[str, int], sweep: dict[tuple[int, str], Measurement]
) -> list[Measurement]:
    rows = []
    where = kr.Where({"edge": ctx.edge})
    for uplink, cut in best.items():
        ctx.progress(f"latency of the best cut ({cut}) at {uplink}")
        plan, path = ctx.plan([str(cut)], ["edge", "cloud"], f"oracle{cut}")
        m = sweep[(cut, uplink)]
        with kr.deployed(path, plan, ctx.settings, ctx.state, where):
            ctx.set_uplink(uplink)
            lat = ctx.latency(plan, path, where, m.throughput_fps)
        rows.append(
            Measurement(
                "oracle",
                uplink,
                cut,
                m.frames,
                m.throughput_fps,
                lat[0] if lat else None,
                lat[1] if lat else None,
                m.bytes_per_frame,
                m.complete,
                note="best cut measured",
                steal=m.steal,
            )
        )
    return rows


def _kafka(
    ctx: _Context,
    strategy: str,
    cuts: list[str],
    tiers: list[str],
    where: kr.Where,
    plan_file: Path | None = None,
) -> list[Measurement]:
    if plan_file is not None:
        plan, path = load_plan(plan_file), plan_file
    else:
        plan, path = ctx.plan(cuts, tiers, strategy)
    crossing = _crossing_topic(plan, where)

    def measure(uplink: str) -> Measurement:
        ctx.progress(f"{strategy} at {uplink}")
        fig = kr.throughput(
            ctx.settings, plan, path, ctx.frames, where, budget_s=ctx.s.budget_s, seed=ctx.s.seed
        )
        lat = ctx.latency(plan, path, where, fig.throughput_fps)
        return Measurement(
            strategy,
            uplink,
            plan.cuts[0].index if plan.cuts else None,
            fig.answered,
            fig.throughput_fps,
            lat[0] if lat else None,
            lat[1] if lat else None,
            kr.uplink_bytes(ctx.settings, crossing) if crossing else 0.0,
            fig.complete,
            steal=fig.steal,
        )

    return _sweep(ctx, plan, path, where, measure)


def _sweep(
    ctx: _Context, plan: Plan, path: Path, where: kr.Where, measure: Callable[[str], Measurement]
) -> list[Measurement]:
    """Measure at every uplink, fastest first, on one deployment; after a run the time
    budget cut short, deploy afresh (its frames still in flight would slow the next run)."""
    rows: list[Measurement] = []
    pending = list(ctx.uplinks)
    while pending:
        with kr.deployed(path, plan, ctx.settings, ctx.state, where):
            while pending:
                uplink = pending.pop(0)
                ctx.set_uplink(uplink)
                rows.append(measure(uplink))
                if not rows[-1].complete:
                    break
    return rows


def _crossing_topic(plan: Plan, where: kr.Where) -> str | None:
    """The topic the edge writes into (what crosses the uplink)."""
    if where.producer_on_edge:
        return plan.topics.frames
    edge = [s for s in plan.stages if s.tier == "edge"]
    return edge[-1].output_topic if edge else None


def _chosen_plan(ctx: _Context, plan_file: Path) -> list[Measurement]:
    return _kafka(ctx, "plan", [], [], kr.Where({"edge": ctx.edge}), plan_file=plan_file)


def _rpc(ctx: _Context, best: dict[str, int]) -> list[Measurement]:
    rows = []
    for uplink, cut in best.items():
        ctx.progress(f"direct RPC pipeline at cut {cut}, {uplink}")
        _, path = ctx.plan([str(cut)], ["edge", "cloud"], f"rpc{cut}")
        port = _free_port(ctx.host_ip)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgesplit.bench.rpc",
                "serve",
                "--plan",
                str(path),
                "--host",
                ctx.host_ip,
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # {"serving": ...}: the port is open
            ctx.set_uplink(uplink)
            before = CpuClock.now()
            thr = _rpc_client(ctx, path, f"{ctx.host_ip}:{port}", None)
            stolen = steal_since(before)
            lat = _rpc_client(
                ctx, path, f"{ctx.host_ip}:{port}", max(0.5 * thr["throughput_fps"], 0.1), batch=1
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        rows.append(
            Measurement(
                "rpc",
                uplink,
                cut,
                int(thr["frames"]),
                thr["throughput_fps"],
                lat["p50_ms"],
                lat["p95_ms"],
                thr["request_bytes_per_frame"],
                note=f"gRPC, {ctx.s.rpc_in_flight} batches in flight",
                steal=stolen,
            )
        )
    return rows


def _rpc_client(
    ctx: _Context, plan: Path, target: str, rate: float | None, batch: int | None = None
) -> dict[str, float]:
    frames = (
        ctx.s.frames
        if rate is None
        else int(min(ctx.s.latency_frames, ctx.s.frames, max(3, rate * ctx.s.budget_s)))
    )
    cmd = [
        sys.executable,
        "-m",
        "edgesplit.bench.rpc",
        "client",
        "--plan",
        str(plan),
        "--target",
        target,
        "--frames",
        str(frames),
        "--seed",
        str(ctx.s.seed),
        "--in-flight",
        str(ctx.s.rpc_in_flight),
    ]
    if rate is not None:
        cmd += ["--rate", f"{rate:.3f}"]
    if batch is not None:
        cmd += ["--batch", str(batch)]
    done = subprocess.run(
        ctx.testbed.wrap(cmd), capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise StageError(f"the RPC client failed: {done.stderr.strip()[-400:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
