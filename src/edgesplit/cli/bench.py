"""`edgesplit bench`: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from edgesplit.bench import codec
from edgesplit.cli.options import (
    Bootstrap,
    console,
    err_console,
    kafka_settings,
    local_broker,
    status,
)
from edgesplit.config import KafkaSettings

if TYPE_CHECKING:
    from edgesplit.bench.pipeline import PipelineBench
    from edgesplit.orchestrator.profile import TierProfile
    from edgesplit.producers.sources import Sample

app = typer.Typer(
    help="Benchmarks: every figure is a ratio to a baseline measured in the same run.",
    no_args_is_help=True,
)


def render_codec(rows: Sequence[codec.CodecRow]) -> None:
    table = Table(title="Activation codec vs. a numpy copy of the same bytes (float32, ReLU-like)")
    for col in (
        "size",
        "encoding",
        "wire",
        "encode MB/s",
        "x copy",
        "decode MB/s",
        "x copy",
        "max |err|",
        "target",
    ):
        table.add_column(col, justify="left" if col in ("encoding", "target") else "right")
    for r in rows:
        targeted = any(key[0] == r.encoding for key in codec.TARGETS)
        verdict = ("ok" if r.meets_targets() else "MISSED") if targeted else ""
        table.add_row(
            codec.human_size(r.size_bytes),
            r.encoding,
            f"{r.wire_bytes / r.size_bytes:.2f}x",
            f"{r.encode_mb_s:,.0f}",
            f"{r.encode_ratio:.2f}",
            f"{r.decode_mb_s:,.0f}",
            f"{r.decode_ratio:.2f}",
            f"{r.max_abs_error:.2g}",
            verdict,
        )
    console.print(table)
    console.print("targets: raw decode >= 0.50x copy, raw encode >= 0.25x copy", style="dim")


@app.command("codec")
def codec_cmd(
    budget: Annotated[float, typer.Option(help="Seconds of timing per measurement.")] = 0.5,
    encodings: Annotated[
        str, typer.Option(help="Comma-separated encodings to measure.")
    ] = ",".join(codec.ENCODINGS),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """Encode/decode throughput at 64 KiB, 1 MiB and 16 MiB, as ratios to a numpy copy."""
    names = [e.strip() for e in encodings.split(",") if e.strip()]
    with err_console.status("measuring codec throughput..."):
        rows = codec.run(encodings=names, budget_s=budget)
    if as_json:
        for r in rows:
            typer.echo(
                json.dumps(
                    asdict(r) | {"encode_ratio": r.encode_ratio, "decode_ratio": r.decode_ratio}
                )
            )
        return
    render_codec(rows)


def render_pipeline(result: PipelineBench) -> None:
    from edgesplit.bench.pipeline import TARGET  # noqa: PLC0415

    table = Table(
        title=f"{result.model} split at cut {result.cut} ({result.cut_bytes_per_frame / 1024:,.1f}"
        f" KiB/frame raw, sent as {result.encoding}); {result.frames} real frames, "
        f"batch {result.batch}, 1 thread per stage"
    )
    for col in ("run", "frames/s", "p50 ms", "p95 ms", "note"):
        table.add_column(col, justify="left" if col in ("run", "note") else "right")
    for r in result.rows:
        table.add_row(r.name, f"{r.fps:.1f}", f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", r.note)
    console.print(table)
    verdict = "meets" if result.meets_target else "MISSES"
    console.print(
        f"pipeline throughput = {result.ratio:.2f}x the slowest stage alone "
        f"({verdict} the {TARGET}x target)"
    )


@app.command("pipeline")
def pipeline_cmd(
    model: Annotated[str, typer.Option(help="Zoo model.")] = "mobilenet_v2",
    cut: Annotated[
        str,
        typer.Option(
            help="Cut index or tensor name; auto: the single-tensor cut nearest "
            "the middle of the graph."
        ),
    ] = "auto",
    encoding: Annotated[str, typer.Option(help="Activation encoding at the cut.")] = "raw",
    frames: Annotated[int, typer.Option(min=10, help="Real photo frames per run.")] = 600,
    batch: Annotated[int, typer.Option(min=1, help="Micro-batch size everywhere.")] = 4,
    bootstrap: Bootstrap = None,
) -> None:
    """Unsplit model vs each stage alone vs the 2-stage Kafka pipeline, in one run."""
    from edgesplit.bench import pipeline  # noqa: PLC0415 - pulls in the whole pipeline

    settings = kafka_settings(bootstrap)
    with status("benchmarking...") as step:
        result = pipeline.run(
            settings,
            model=model,
            cut=cut,
            encoding=encoding,
            frames=frames,
            batch=batch,
            progress=step.update,
        )
    render_pipeline(result)


@app.command("run")
def run_cmd(
    scenario: Annotated[
        str, typer.Argument(help="A scenario file, or a shipped one: mobilenet_v2, mnist_cnn.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the CSVs, the plots and summary.md.")
    ] = Path("bench-out"),
) -> None:
    """Compare split strategies on emulated tiers (a CPU-limited edge behind a shaped uplink).

    Needs root (network namespaces, tc, cgroups) and the local broker, which the testbed
    gives a listener on the edge link. Every strategy runs in turn on the same frames.
    """
    from edgesplit.bench import report, runner  # noqa: PLC0415
    from edgesplit.bench.scenario import find_scenario, load_scenario  # noqa: PLC0415

    path = find_scenario(scenario)
    spec = load_scenario(path)
    broker = local_broker()
    with err_console.status("starting the local broker..."):
        started = broker.start()
    settings = KafkaSettings(started.state.bootstrap)
    with status(f"{spec.name}...") as step:
        result = runner.run(spec, path, out, settings, broker, progress=step.update)
    written = report.write(result)
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    err_console.print(
        f"{spec.name} measured in {result.seconds / 60:.1f} min; wrote "
        + ", ".join(str(p) for p in written)
    )


def _real_frames(model: str, count: int) -> list[Sample]:
    from edgesplit.config import cache_dir  # noqa: PLC0415
    from edgesplit.models.zoo import get_model  # noqa: PLC0415
    from edgesplit.orchestrator.inputs import model_samples  # noqa: PLC0415

    info = get_model(model)
    return model_samples(info.input_shape, info.input_dtype, count, cache=cache_dir())


def _profiles_for(
    model: str, given: dict[str, str], out: Path, testbed_edge: bool
) -> dict[str, TierProfile]:
    """The given profile files; the missing ones measured now (the edge in the testbed),
    each once more where the hypervisor stole much of the CPU meanwhile (the less stolen
    kept: one burst would set every prediction of a long validation off)."""
    from edgesplit.orchestrator.profile import load_profile, save_profile  # noqa: PLC0415

    profiles = {t: load_profile(Path(f)) for t, f in given.items()}
    for tier in ("edge", "cloud"):
        if tier in profiles:
            continue
        path = out / f"profile-{model}-{tier}.json"
        cmd = [sys.executable, "-m", "edgesplit", "profile", "run", model, "--tier", tier]
        cmd += ["--no-publish", "-o", str(path)]  # link and transport measured too
        if tier == "edge" and testbed_edge:
            cmd.append("--testbed")
        err_console.print(f"profiling {model} on the {tier} tier -> {path}")
        subprocess.run(cmd, check=True)
        profiles[tier] = first = load_profile(path)
        if first.stolen:
            err_console.print(f"profiling {model} on the {tier} tier again (CPU steal)")
            subprocess.run(cmd, check=True)
            profiles[tier] = min(first, load_profile(path), key=lambda p: p.steal or 0.0)
            save_profile(profiles[tier], path)
    return profiles


@app.command("validate")
def validate_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model.")],
    profile_file: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            help="TIER=FILE.json for edge and cloud; a missing one is measured first "
            "(the edge inside the testbed). With both given, runs report no host slowdown: "
            "nothing timed the host while they were measured.",
        ),
    ] = None,
    uplinks: Annotated[str, typer.Option(help="Uplinks to validate at.")] = "100mbit,20mbit,5mbit",
    edge_cpu: Annotated[float, typer.Option(help="The edge tier's CPUs.")] = 0.5,
    run_s: Annotated[float, typer.Option(help="About this many seconds of frames per run.")] = 5.0,
    batch: Annotated[int, typer.Option(min=1, help="Micro-batch size.")] = 4,
    cuts: Annotated[
        str,
        typer.Option(help="Only these cuts (comma-separated); the oracle is the best of them."),
    ] = "",
    rounds: Annotated[
        int,
        typer.Option(
            min=0,
            help="Rounds of the choice measured side by side with the oracle, edge-only and "
            "cloud-only, one after another (0: the sweep's figures only).",
        ),
    ] = 3,
    repeats: Annotated[
        int,
        typer.Option(
            min=1,
            help="Passes over the cuts: each cut is measured this many times, minutes apart, "
            "and its figures are the medians (a plan measured again on a shared host moves "
            "by up to 20%); the edge-only and cloud-only runs that calibrate the "
            "predictions follow each pass, their median factor applied. Multiplies the "
            "sweep's time.",
        ),
    ] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the files.")] = Path(
        "validate-out"
    ),
) -> None:
    """The cost model against measurements: every single-tensor cut at every uplink on the
    emulated tiers (predicted vs measured stage compute and throughput), and the plan
    `plan auto` chooses against the best cut measured, edge-only and cloud-only: in the
    sweep, then side by side (`--rounds`). A run during which the hypervisor stole more
    than 10% of the CPU (a shared VM's CPU steal) is measured again once the burst has
    passed (up to three runs, the least stolen kept), and a profile once more. Each run
    also reports how busy the host's CPUs were and how much slower the host was than when
    the profiles were measured (the whole model timed on one thread of the host, now and
    then, during the run and during the profiling), and the profiles'
    prediction at that speed.

    Needs root and the local broker, like `bench run`.
    """
    from edgesplit.bench import validate, validation_report  # noqa: PLC0415
    from edgesplit.bench.speed import SpeedProbe  # noqa: PLC0415
    from edgesplit.bench.testbed import Testbed, TestbedConfig  # noqa: PLC0415
    from edgesplit.cli.options import int_list, resolve_model, tier_pairs  # noqa: PLC0415
    from edgesplit.config import state_dir  # noqa: PLC0415

    name, onnx, classes = resolve_model(model)
    out.mkdir(parents=True, exist_ok=True)
    broker = local_broker()
    with err_console.status("starting the local broker..."):
        settings = KafkaSettings(broker.start().state.bootstrap)
    rates = [u.strip() for u in uplinks.split(",") if u.strip()]
    testbed = Testbed(state_dir(), broker)
    testbed.up(TestbedConfig(edge_cpu=edge_cpu, uplink=rates[0]))
    try:
        frames = _real_frames(name, 120)
        given = tier_pairs(profile_file, "--profile")
        meter = SpeedProbe(onnx, frames[0].array)
        with meter.metering(meter.reference):
            profiles = _profiles_for(name, given, out, True)
        # none without a timing of the host from when the profiles were measured
        speed = None if profiles.keys() <= given.keys() else meter
        edge_bootstrap = testbed.state().edge_bootstrap  # type: ignore[union-attr]

        def probe(_: str) -> float:
            cmd = [sys.executable, "-m", "edgesplit", "profile", "link", name, "--tier", "edge"]
            cmd += ["--no-update", "--json", "--seconds", "4", "--bootstrap", edge_bootstrap]
            done = subprocess.run(testbed.wrap(cmd), capture_output=True, text=True, check=True)
            return float(json.loads(done.stdout.strip().splitlines()[-1])["uplink_bps"])

        with status(f"validating {name}...") as step:
            result = validate.validate(
                model=name,
                onnx=onnx,
                classes=classes,
                profiles=profiles,
                settings=settings,
                testbed=testbed,
                frames=frames,
                uplinks=rates,
                link_probe=probe,
                batch=batch,
                run_s=run_s,
                only_cuts=int_list(cuts, "--cuts"),
                rounds=rounds,
                repeats=repeats,
                progress=step.update,
                speed=speed,
            )
    finally:
        testbed.down()
    written = validation_report.write(result, out)
    for line in validation_report.headline(result):
        console.print(line, highlight=False)
    err_console.print("wrote " + ", ".join(str(p) for p in written))


class Experiment(enum.StrEnum):
    resplit = "resplit"  # drop the uplink mid-stream
    scale = "scale"  # a deliberately slow stage


@app.command("live")
def live_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model.")],
    experiment: Annotated[
        Experiment,
        typer.Option(help="resplit: drop the uplink mid-stream; scale: a deliberately slow stage."),
    ] = Experiment.resplit,
    profile_file: Annotated[
        list[str] | None,
        typer.Option("--profile", help="TIER=FILE.json for edge and cloud (else measured)."),
    ] = None,
    rate: Annotated[float, typer.Option(help="Frames per second the camera sends.")] = 20.0,
    before: Annotated[float, typer.Option(help="resplit: seconds before the drop.")] = 30.0,
    after: Annotated[float, typer.Option(help="resplit: seconds after the drop.")] = 60.0,
    uplink: Annotated[str, typer.Option(help="The uplink at the start.")] = "100mbit",
    drop_to: Annotated[str, typer.Option(help="resplit: the uplink after the drop.")] = "5mbit",
    slow: Annotated[
        str | None,
        typer.Option(
            help="scale: STAGE:MS extra per frame for that stage [default: stage 1, 1.25 "
            "frame intervals at --rate: 62 ms at 20 Hz, too slow alone, not with a replica]."
        ),
    ] = None,
    seconds: Annotated[float, typer.Option(help="scale: seconds of streaming.")] = 60.0,
    edge_cpu: Annotated[float, typer.Option(help="The edge tier's CPUs.")] = 0.5,
    sensors: Annotated[
        int,
        typer.Option(
            min=1,
            help="Cameras the frames come from. A camera's frames stay on one partition (in "
            "order), and a replica takes over partitions: one camera cannot use a replica.",
        ),
    ] = 4,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the files.")] = Path(
        "live-out"
    ),
) -> None:
    """The orchestrator live on the emulated tiers: agents, a link monitor on the edge, a
    camera following the newest plan version. Writes the timeline, answers per second per
    version, a plot and a summary (exactly-once by frame id).
    """
    import uuid  # noqa: PLC0415

    from edgesplit.bench import live  # noqa: PLC0415
    from edgesplit.bench.testbed import Testbed  # noqa: PLC0415
    from edgesplit.cli.options import resolve_model, tier_pairs  # noqa: PLC0415
    from edgesplit.config import state_dir  # noqa: PLC0415
    from edgesplit.orchestrator.live import Settings  # noqa: PLC0415

    name, onnx, classes = resolve_model(model)
    out.mkdir(parents=True, exist_ok=True)
    broker = local_broker()
    with err_console.status("starting the local broker..."):
        settings = KafkaSettings(broker.start().state.bootstrap)
    testbed = Testbed(state_dir(), broker)
    given = tier_pairs(profile_file, "--profile")
    if len(given) < 2:
        from edgesplit.bench.testbed import TestbedConfig  # noqa: PLC0415

        testbed.up(TestbedConfig(edge_cpu=edge_cpu, uplink=uplink))
        try:
            profiles = _profiles_for(name, given, out, True)
        finally:
            testbed.down()
    else:
        profiles = _profiles_for(name, given, out, True)
    pipeline = f"{experiment.value}-{uuid.uuid4().hex[:6]}"
    x = live.Experiment(
        kafka=settings,
        testbed=testbed,
        settings=Settings(
            model=name,
            onnx=onnx,
            classes=classes,
            chain=("edge", "cloud"),
            pipeline=pipeline,
            workdir=out / "plans",
            resplit=experiment is Experiment.resplit,
        ),
        profiles=profiles,
        frames=_real_frames(name, 120),
        rate_hz=rate,
        edge_cpu=edge_cpu,
        uplink=uplink,
        sensors=sensors,
        progress=lambda m: err_console.print(m, highlight=False),
    )
    if experiment is Experiment.resplit:
        run = live.run_resplit(x, before_s=before, after_s=after, drop_to=drop_to)
    else:
        run = live.run_scale(x, seconds=seconds, slow=slow or live.default_slow(rate))
    written = live.write(run, out)
    for line in live.summary(run):
        console.print(line, highlight=False)
    err_console.print("wrote " + ", ".join(str(p) for p in written))
