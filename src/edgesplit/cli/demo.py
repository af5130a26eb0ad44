"""`edgesplit demo`: MobileNetV2 split edge/cloud over Kafka, on real photos."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, err_console, kafka_settings, local_broker
from edgesplit.config import KafkaSettings

if TYPE_CHECKING:
    from edgesplit.demo import DemoReport


def demo(
    bootstrap: Bootstrap = None,
    frames: Annotated[int, typer.Option(min=10, help="Photo frames to stream.")] = 300,
    rate: Annotated[float, typer.Option(min=1, help="Frames per second (a camera's pace).")] = 25.0,
) -> None:
    """Split MobileNetV2 (real ImageNet weights) into an edge and a cloud stage at the end of
    block 6 (int8 activations), deploy both, stream real photo frames through Kafka and check
    every answer against the unsplit model.

    Without --bootstrap it starts the local broker first and stops it afterwards (unless it
    was already running).
    """
    from edgesplit import demo as run_demo  # noqa: PLC0415

    broker = None
    reused = True
    if bootstrap:
        settings = kafka_settings(bootstrap)
    else:
        broker = local_broker()
        with err_console.status("starting the local Kafka broker..."):
            started = broker.start()
        reused = started.reused
        how = "reused" if reused else f"started in {started.seconds:.1f} s"
        console.print(f"broker: Kafka {started.state.version} at {started.state.bootstrap} ({how})")
        settings = KafkaSettings(started.state.bootstrap)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="edgesplit-demo-") as tmp,
            err_console.status("preparing...") as status,
        ):
            report = run_demo.run(
                settings, Path(tmp), frames=frames, rate_hz=rate, progress=status.update
            )
        _print(report)
    finally:
        if broker is not None and not reused:
            broker.stop()
            console.print("broker stopped")


def _print(report: DemoReport) -> None:
    plan, res = report.plan, report.results
    cut = plan.cuts[0]
    frame_kib = plan.model.input.bytes_per_frame / 1024
    wire_kib = cut.bytes_per_frame / 1024 / (4 if cut.encoding.startswith("int8") else 1)
    console.print(
        f"plan: {plan.model.name} cut after node {cut.index} "
        f"({cut.tensors[0].name}, {list(cut.tensors[0].shape)}); "
        f"edge sends {wire_kib:.1f} KiB/frame ({cut.encoding}) instead of a {frame_kib:.0f} KiB "
        "camera frame"
    )
    console.print(f"streamed {report.stream.frames} frames at {report.stream.rate_hz:.1f} frames/s")
    lat = res.latency_ms
    summary = Table(show_header=False, box=None)
    summary.add_row(
        "answered",
        f"{res.frames}/{report.stream.frames} frames"
        + (f" (+{res.duplicates} duplicates)" if res.duplicates else ""),
    )
    summary.add_row("throughput", f"{res.throughput_fps:.1f} frames/s")
    summary.add_row(
        "latency",
        f"p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
        f"p99 {lat['p99']:.0f} ms (capture -> result)",
    )
    summary.add_row("same top-1 as the unsplit model", f"{report.agree}/{res.frames}")
    console.print(summary)
    table = Table(title="a few answers")
    for col in ("photo", "frame", "top-1 (split)", "score", "unsplit model"):
        table.add_column(col)
    for p in report.predictions:
        table.add_row(p.source, p.frame_id, p.top1, f"{p.score:.2f}", p.unsplit_top1)
    console.print(table)
