"""`edgesplit bench`: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from edgesplit.bench import codec
from edgesplit.cli.options import Bootstrap, console, err_console, kafka_settings, local_broker
from edgesplit.config import KafkaSettings

if TYPE_CHECKING:
    from edgesplit.bench.pipeline import PipelineBench

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
    with err_console.status("benchmarking...") as status:
        result = pipeline.run(
            settings,
            model=model,
            cut=cut,
            encoding=encoding,
            frames=frames,
            batch=batch,
            progress=status.update,
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
    with err_console.status(f"{spec.name}...") as status:
        result = runner.run(spec, path, out, settings, broker, progress=status.update)
    written = report.write(result)
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    err_console.print(
        f"{spec.name} measured in {result.seconds / 60:.1f} min; wrote "
        + ", ".join(str(p) for p in written)
    )
