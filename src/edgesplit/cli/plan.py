"""`edgesplit plan`: write a plan file (cuts, stages, tiers, topics, encodings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import console, resolve_model
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
