"""`edgesplit results`: a live summary of what the pipeline answered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, kafka_settings
from edgesplit.consumers.results import ResultsReport, ResultsSummary, read_results
from edgesplit.errors import ConfigError


def _render(report: ResultsReport, names: list[str] | None) -> Group:
    lat = report.latency_ms
    head = Table(show_header=False, box=None)
    head.add_row(
        "frames",
        f"{report.frames:,}" + (f" (+{report.duplicates} duplicates)" if report.duplicates else ""),
    )
    head.add_row("throughput", f"{report.throughput_fps:.1f} frames/s")
    head.add_row(
        "latency", f"p50 {lat['p50']:.1f} ms   p95 {lat['p95']:.1f} ms   p99 {lat['p99']:.1f} ms"
    )
    if report.accuracy is not None:
        head.add_row("accuracy", f"{report.accuracy:.2%} ({report.correct}/{report.labelled})")
    if len(report.per_version) > 1:
        head.add_row(
            "plan versions", ", ".join(f"v{v}: {n}" for v, n in sorted(report.per_version.items()))
        )
    recent = Table(title="latest answers")
    for col in ("frame", "top-1", "score", "label", "latency ms"):
        recent.add_column(col)
    for a in report.recent:
        top = (
            "?"
            if a.top1 is None
            else (names[a.top1] if names and a.top1 < len(names) else str(a.top1))
        )
        label = (
            ""
            if a.label is None
            else (names[a.label] if names and a.label < len(names) else str(a.label))
        )
        recent.add_row(
            a.frame_id,
            top,
            f"{a.score:.3f}" if a.score is not None else "",
            label,
            f"{a.latency_ms:.1f}",
        )
    return Group(head, recent)


def results(
    plan_file: Annotated[
        Path | None, typer.Option("--plan", "-p", help="The plan whose results to read.")
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="Read the results of every version of this published pipeline "
            "(versions published later included).",
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many distinct frames.")
    ] = None,
    idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without a result.")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Only results that arrive from now on.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary at the end.")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Frames, throughput, end-to-end latency p50/p95/p99, accuracy, top-1 class names."""
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    settings = kafka_settings(bootstrap)
    if pipeline is not None:
        from edgesplit.orchestrator import control  # noqa: PLC0415

        record = control.newest_active(settings, pipeline)
        if record is None:
            raise ConfigError(f"no active version of pipeline {pipeline!r} is published")
        plan = record.plan()
        topics = [control.results_pattern(pipeline)]
    elif plan_file is not None:
        plan = load_plan(plan_file)
        topics = [plan.topics.results]
    else:
        raise ConfigError("give --plan PLAN or --pipeline NAME")
    names = None
    if plan.model.classes:
        from edgesplit.config import cache_dir  # noqa: PLC0415
        from edgesplit.models.classes import class_names  # noqa: PLC0415

        names = class_names(plan.model.classes, cache_dir())
    summary = ResultsSummary()

    def read(on_answer: Callable[[ResultsSummary, object], None] | None = None) -> ResultsReport:
        return read_results(
            settings,
            topics,
            count=count,
            idle_timeout_s=idle,
            timeout_s=timeout,
            from_beginning=not latest,
            summary=summary,
            on_answer=on_answer,
        )

    if as_json:
        typer.echo(json.dumps(report_json(read(), names)))
        return
    with Live(_render(summary.report(), names), console=console, refresh_per_second=4) as live:
        shown = [0.0]

        def refresh(s: ResultsSummary, _: object) -> None:
            if time.monotonic() - shown[0] > 0.25:
                live.update(_render(s.report(), names))
                shown[0] = time.monotonic()

        try:
            report = read(refresh)
        except KeyboardInterrupt:
            report = summary.report()
        live.update(_render(report, names))


def report_json(report: ResultsReport, names: list[str] | None) -> dict[str, object]:
    return {
        "frames": report.frames,
        "duplicates": report.duplicates,
        "undecodable": report.undecodable,
        "throughput_fps": report.throughput_fps,
        "latency_ms": report.latency_ms,
        "accuracy": report.accuracy,
        "labelled": report.labelled,
        "per_version": report.per_version,
        "recent": [
            {
                "frame_id": a.frame_id,
                "top1": a.top1,
                "score": a.score,
                "label": a.label,
                "class": names[a.top1] if names and a.top1 is not None else None,
                "latency_ms": a.latency_ms,
            }
            for a in report.recent
        ],
    }
