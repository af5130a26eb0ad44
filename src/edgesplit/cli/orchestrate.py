"""`edgesplit orchestrate`: choose, publish, watch, re-split and scale a pipeline live."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

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
from edgesplit.config import state_dir


def orchestrate(
    model: Annotated[str, typer.Argument(help="Zoo model name or .onnx file.")],
    tiers: Annotated[
        str, typer.Option(help="The chain of tiers, camera first: edge,cloud.")
    ] = "edge,cloud",
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline name [default: the model].")
    ] = None,
    objective: Annotated[
        Objective, typer.Option(help="throughput (the slowest stage or link) or latency.")
    ] = Objective.throughput,
    max_stages: Annotated[int, typer.Option(min=1, help="At most this many stages.")] = 2,
    encodings: Annotated[
        str, typer.Option(help="Encodings the cuts may use (lossy ones where profiled safe).")
    ] = "raw,fp16,int8",
    profile_file: Annotated[
        list[str] | None,
        typer.Option("--profile", help="TIER=FILE.json instead of the profiles topic."),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Micro-batch size of every stage.")] = 4,
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions per topic: the most replicas a stage can get.")
    ] = 2,
    interval: Annotated[float, typer.Option(help="Seconds between observations.")] = 4.0,
    gain: Annotated[
        float, typer.Option(help="Re-split only for a plan predicted this much better.")
    ] = 1.3,
    sustain: Annotated[int, typer.Option(min=1, help="...in this many observations in a row.")] = 2,
    resplit: Annotated[bool, typer.Option(help="Act on re-split decisions.")] = True,
    scale: Annotated[bool, typer.Option(help="Act on replica decisions.")] = True,
    exactly_once: ExactlyOnce = False,
    for_s: Annotated[
        float | None, typer.Option("--for", help="Stop after this many seconds.")
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Choose the plan the profiles predict is best, publish it for the agents
    (`edgesplit agent --tier T` on each tier), then watch links, stage speeds and lag:
    publish a new version when another plan is clearly better (the old one drains, then
    retires), add a replica to a stage that falls behind, remove one when idle.
    Ctrl-C stops the loop; the plan in force keeps running.
    """
    from edgesplit.orchestrator.live import Orchestrator, Settings  # noqa: PLC0415
    from edgesplit.orchestrator.planner import Constraints  # noqa: PLC0415
    from edgesplit.orchestrator.profile import load_profile  # noqa: PLC0415

    settings = kafka_settings(bootstrap)
    name, onnx, classes = resolve_model(model)
    pipeline = pipeline or name.replace(".", "-")
    s = Settings(
        model=name,
        onnx=onnx,
        classes=classes,
        chain=tuple(t.strip() for t in tiers.split(",") if t.strip()),
        pipeline=pipeline,
        workdir=state_dir() / "orchestrator" / pipeline,
        objective=objective.value,
        constraints=Constraints(
            max_stages=max_stages,
            encodings=tuple(e.strip() for e in encodings.split(",") if e.strip()),
        ),
        batch=batch,
        partitions=partitions,
        interval_s=interval,
        gain=gain,
        sustain=sustain,
        resplit=resplit,
        scale=scale,
        delivery=delivery(exactly_once),
        profile_files={
            t: load_profile(Path(f)) for t, f in tier_pairs(profile_file, "--profile").items()
        },
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if for_s is not None:
        threading.Timer(for_s, stop.set).start()
    began = time.time()

    def show(e: object) -> None:
        from edgesplit.orchestrator.live import Event  # noqa: PLC0415

        assert isinstance(e, Event)
        if e.kind == "observed":
            return
        console.print(f"[{e.at - began:7.1f}s] v{e.version} {e.kind}: {e.detail}", highlight=False)

    Orchestrator(settings, s, on_event=show).run(stop)
