"""`edgesplit metrics`: per-stage throughput, utilization, bubbles, per-hop and e2e latency."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, err_console, kafka_settings

if TYPE_CHECKING:
    from edgesplit.consumers.metrics import PipelineMetrics


def metrics(
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan whose run to report.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write batch/device/pipeline CSVs (and "
            "PNG plots with --plots) into this directory.",
        ),
    ] = None,
    plots: Annotated[bool, typer.Option(help="Also draw PNG plots into --out.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Report a deployed plan's run from its stage metrics and the results' trace stamps."""
    from edgesplit.consumers.metrics import analyse, as_dict, collect  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    plan = load_plan(plan_file)
    settings = kafka_settings(bootstrap)
    with err_console.status("reading metrics and results..."):
        report = analyse(plan, *collect(settings, plan))
    if as_json:
        typer.echo(json.dumps(as_dict(report)))
    else:
        _print(report)
    if out is not None:
        from edgesplit.consumers.metrics_files import write_csvs, write_plots  # noqa: PLC0415

        run = f"{plan.pipeline}-v{plan.version}-{time.strftime('%Y%m%d-%H%M%S')}"
        written = write_csvs(report, out, run)
        if plots:
            written += write_plots(report, out)
        err_console.print("wrote " + ", ".join(str(p) for p in written))


def _print(report: PipelineMetrics) -> None:
    if not report.stages:
        console.print(
            f"no metrics yet for {report.pipeline} v{report.plan_version} (stages "
            "publish every 2 s)"
        )
    table = Table(title=f"{report.pipeline} v{report.plan_version}: stages")
    for col in (
        "stage",
        "tier",
        "frames out",
        "frames/s",
        "utilization",
        "bubble",
        "batch",
        "compute ms/frame",
        "cpu %",
        "rss MB",
        "KiB in/frame",
        "KiB out/frame",
        "dead letters",
    ):
        table.add_column(col, justify="right")
    for s in report.stages:
        table.add_row(
            str(s.stage),
            s.tier,
            f"{s.frames_out:,}",
            f"{s.throughput_fps:.1f}",
            f"{s.utilization:.0%}",
            f"{s.bubble:.0%}",
            f"{s.mean_batch:.1f}",
            f"{s.compute_ms_per_frame:.2f}",
            f"{s.cpu_percent:.0f}",
            f"{s.rss_mb:.0f}",
            f"{s.bytes_in_per_frame / 1024:.1f}",
            f"{s.bytes_out_per_frame / 1024:.1f}",
            str(s.dead_letters),
        )
    console.print(table)
    hops = Table(title=f"latency over {report.results:,} results")
    for col in ("where", "p50 ms", "p95 ms", "p99 ms"):
        hops.add_column(col, justify="left" if col == "where" else "right")
    for h in (*report.hops, report.end_to_end):
        hops.add_row(h.name, f"{h.p50_ms:.1f}", f"{h.p95_ms:.1f}", f"{h.p99_ms:.1f}")
    console.print(hops)
