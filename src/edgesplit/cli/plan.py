"""`edgesplit plan`: write a plan file (cuts, stages, tiers, topics, encodings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import (
    Bootstrap,
    ExactlyOnce,
    Objective,
    console,
    delivery,
    kafka_settings,
    resolve_model,
    tier_pairs,
)
from edgesplit.orchestrator.plan import BatchPolicy

app = typer.Typer(
    help="Write plans: where to cut a model, which tier runs each stage, how activations travel.",
    no_args_is_help=True,
)


@app.command()
def manual(
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name or .onnx file.")],
    cut: Annotated[
        list[str],
        typer.Option(
            "--cut",
            "-c",
            help="A cut: its index from `edgesplit cuts MODEL`, or the "
            "tensor name(s) crossing it (comma-separated). Repeat for more stages.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Plan file to write.")] = Path(
        "plan.yaml"
    ),
    encoding: Annotated[
        list[str] | None,
        typer.Option(
            "--encoding",
            "-e",
            help="Wire encoding of the activations: raw, fp16 or "
            "int8, optionally +zstd/+lz4. Once for every cut, or once per cut.",
        ),
    ] = None,
    tier: Annotated[
        list[str] | None,
        typer.Option(
            "--tier",
            "-t",
            help="Tier of each stage in order [default: edge, cloud; "
            "edge, fog, cloud for three stages].",
        ),
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline name used in topic names [default: the model].")
    ] = None,
    version: Annotated[int, typer.Option(min=1, help="Plan version.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Largest micro-batch a stage runs.")] = 8,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="Longest a stage waits to fill a batch.")
    ] = 5.0,
    threads: Annotated[int, typer.Option(min=1, help="ONNX Runtime threads per stage.")] = 1,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions per topic.")] = 1,
    exactly_once: ExactlyOnce = False,
) -> None:
    """Cut MODEL at the given cuts and write the plan (and the stage partitions next to it)."""
    from edgesplit.orchestrator.builder import build_plan  # noqa: PLC0415

    name, onnx_path, classes = resolve_model(model)
    plan = build_plan(
        model_name=name,
        onnx_path=onnx_path,
        cut_specs=cut,
        out=out,
        encodings=encoding or ["raw"],
        tiers=tier,
        pipeline=pipeline,
        version=version,
        batch=BatchPolicy(max_size=batch_size, max_wait_ms=max_wait_ms),
        threads=threads,
        partitions=partitions,
        classes=classes,
        delivery=delivery(exactly_once),
    )
    table = Table(title=f"plan {plan.pipeline} v{plan.version} ({plan.model.name})")
    for col in ("stage", "tier", "reads", "writes", "sends per frame"):
        table.add_column(col)
    for stage in plan.stages:
        cut_out = plan.output_cut(stage.index)
        sends = (
            f"{cut_out.bytes_per_frame / 1024:,.1f} KiB raw, {cut_out.encoding}"
            if cut_out
            else "top-k result"
        )
        table.add_row(str(stage.index), stage.tier, stage.input_topic, stage.output_topic, sends)
    console.print(table)
    console.print(f"wrote {out} and {len(plan.stages)} partitions in {out.stem}.stages/")


@app.command()
def auto(
    model: Annotated[str, typer.Argument(help="Zoo model name or .onnx file.")],
    tiers: Annotated[
        str, typer.Option(help="The chain of tiers, camera first: edge,cloud or edge,fog,cloud.")
    ] = "edge,cloud",
    objective: Annotated[
        Objective, typer.Option(help="throughput (the slowest stage or link) or latency.")
    ] = Objective.throughput,
    max_stages: Annotated[int, typer.Option(min=1, help="At most this many stages.")] = 2,
    encodings: Annotated[
        str,
        typer.Option(
            help="Encodings the cuts may use; lossy ones only where the profile "
            "measured top-1 agreement >= --agreement."
        ),
    ] = "raw,fp16,int8",
    agreement: Annotated[
        float, typer.Option(help="Top-1 agreement lossy encodings must keep.")
    ] = 0.99,
    memory: Annotated[
        list[str] | None, typer.Option(help="A tier's memory limit, TIER=SIZE (e.g. edge=512mb).")
    ] = None,
    uplink: Annotated[
        list[str] | None,
        typer.Option(
            help="Override a tier's measured uplink, TIER=RATE (e.g. "
            "edge=5mbit): plan for a link you expect."
        ),
    ] = None,
    profile_file: Annotated[
        list[str] | None,
        typer.Option(
            "--profile", help="Use a profile file, TIER=FILE.json, instead of the profiles topic."
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Micro-batch size of every stage.")] = 4,
    explain_choice: Annotated[
        bool, typer.Option("--explain", help="Show the best candidates and why the winner won.")
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Plan file to write.")] = Path(
        "plan.yaml"
    ),
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline name [default: the model].")
    ] = None,
    version: Annotated[int, typer.Option(min=1, help="Plan version.")] = 1,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions per topic.")] = 1,
    exactly_once: ExactlyOnce = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Choose the cuts, tiers and encodings the cost model predicts are best, and write the plan.

    Profiles come from the profiles topic (`edgesplit profile MODEL --tier T` on each tier)
    or from files; each tier's uplink is its profile's measured one unless overridden.
    """
    from edgesplit.bench.rates import parse_rate, parse_size  # noqa: PLC0415
    from edgesplit.orchestrator import auto as planner  # noqa: PLC0415
    from edgesplit.orchestrator.builder import build_plan  # noqa: PLC0415
    from edgesplit.orchestrator.planner import Constraints  # noqa: PLC0415
    from edgesplit.orchestrator.profile import load_profile  # noqa: PLC0415

    chain = [t.strip() for t in tiers.split(",") if t.strip()]
    name, onnx_path, classes = resolve_model(model)
    files = tier_pairs(profile_file, "--profile")
    profiles = {t: load_profile(Path(f)) for t, f in files.items()}
    if len(profiles) < len(chain):
        from edgesplit.orchestrator.profiles_topic import read_profiles  # noqa: PLC0415

        profiles = {**read_profiles(kafka_settings(bootstrap), name), **profiles}
    env = planner.environment(
        {t: p for t, p in profiles.items() if t in chain},
        chain,
        {t: float(parse_rate(r)) for t, r in tier_pairs(uplink, "--uplink").items()},
        batch,
    )
    cons = Constraints(
        max_stages=max_stages,
        encodings=tuple(e.strip() for e in encodings.split(",") if e.strip()),
        agreement=agreement,
        memory={t: parse_size(v) for t, v in tier_pairs(memory, "--memory").items()},
    )
    choice = planner.choose(env, cons, objective.value)
    if explain_choice:
        table = Table(title=f"best candidates ({objective})")
        for col in ("#", "plan", "frames/s", "latency ms", "limited by"):
            table.add_column(col)
        for i, (cand, pred) in enumerate(choice.ranked, 1):
            table.add_row(
                str(i),
                cand.describe(),
                f"{pred.throughput_fps:.1f}",
                f"{pred.latency_ms:.1f}",
                pred.bottleneck,
            )
        console.print(table)
        for line in planner.explain(choice):
            console.print(line, highlight=False)
    w = choice.winner
    plan = build_plan(
        model_name=name,
        onnx_path=onnx_path,
        cut_specs=[str(c) for c in w.cuts],
        out=out,
        encodings=list(w.encodings) or ["raw"],
        tiers=list(w.tiers),
        pipeline=pipeline,
        version=version,
        batch=BatchPolicy(max_size=batch, max_wait_ms=5.0),
        partitions=partitions,
        classes=classes,
        predicted=planner.predicted_figures(choice.prediction),
        delivery=delivery(exactly_once),
    )
    p = choice.prediction
    console.print(
        f"wrote {out}: {w.describe()}; predicted {p.throughput_fps:.1f} frames/s, "
        f"{p.latency_ms:.1f} ms (plan {plan.pipeline} v{plan.version})",
        highlight=False,
    )
