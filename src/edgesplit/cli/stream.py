"""`edgesplit stream`: sensor frames into the frames topic, paced, with a progress bar."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edgesplit.cli.options import Bootstrap, console, kafka_settings, progress_bar
from edgesplit.errors import ConfigError
from edgesplit.schemas import TensorEncoding

if TYPE_CHECKING:
    from edgesplit.orchestrator.control import PlanFollower


class Source(enum.StrEnum):
    photos = "photos"
    mnist = "mnist"
    folder = "folder"
    synthetic = "synthetic"


def stream(
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", "-p", help="Stream into this plan's frames topic, shaped for its model."
        ),
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="Stream into the newest active version of this published pipeline, "
            "switching to a newer version between frames as soon as it is published.",
        ),
    ] = None,
    source: Annotated[
        Source,
        typer.Option(
            help="photos: real photos (random crops and flips); mnist: the "
            "5,000 MNIST digits with labels; folder: images in --dir; "
            "synthetic: random frames."
        ),
    ] = Source.photos,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Image folder for --source folder.")
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Frames per second across all sensors (0: as fast as the broker takes them).",
        ),
    ] = 0,
    count: Annotated[int, typer.Option(min=1, help="How many frames.")] = 100,
    sensors: Annotated[int, typer.Option(min=1, help="Sensors (keys) to spread frames over.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the random crops/frames.")] = 0,
    topic: Annotated[str | None, typer.Option(help="Frames topic [default: the plan's].")] = None,
    encoding: Annotated[
        str,
        typer.Option(
            help="How frames travel: raw (as the sensor gives them) or jpeg (about 8x "
            "smaller, lossy; stage 0 decodes it)."
        ),
    ] = "raw",
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            help="Frames sent (and acknowledged) before the COUNT frames, "
            "under run id RUN-warmup: the producer's start-up stays out of the "
            "latency of the first frames.",
        ),
    ] = 0,
    preload: Annotated[
        bool,
        typer.Option(
            help="Make every frame before streaming (a camera's frames cost no "
            "CPU while they are sent; benchmarks use it)."
        ),
    ] = False,
    run_id: Annotated[
        str | None,
        typer.Option(
            help="Prefix of the frame ids [default: random]; frame ids are RUN:SENSOR:SEQ."
        ),
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Produce COUNT frames, keyed by sensor id, capture time stamped, labels where known."""
    from edgesplit.config import cache_dir  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415
    from edgesplit.producers import sources  # noqa: PLC0415
    from edgesplit.producers.stream import stream as run_stream  # noqa: PLC0415

    if plan_file is None and topic is None and pipeline is None:
        raise ConfigError(
            "give --plan PLAN, --pipeline NAME or --topic TOPIC to say where frames go"
        )
    follower = _follower(pipeline, bootstrap) if pipeline is not None else None
    if follower is not None and pipeline is not None:
        plan = follower.current(pipeline)
    else:
        plan = load_plan(plan_file) if plan_file is not None else None
    target = topic or (plan.topics.frames if plan else "")
    limit = plan.topics.frames_max_message_bytes if plan else 16 * 1024 * 1024
    shape = tuple(plan.model.input.shape) if plan else None
    size = shape[0] if shape and len(shape) == 3 else 224
    if source is Source.photos:
        samples = sources.photos(count + warmup, size=size, seed=seed, cache=cache_dir())
    elif source is Source.mnist:
        samples = sources.mnist(count + warmup, cache=cache_dir(), seed=seed)
    elif source is Source.folder:
        if directory is None:
            raise ConfigError("--source folder needs --dir DIR")
        samples = sources.folder(directory, count=count + warmup, size=size)
    else:
        samples = sources.synthetic(shape or (size, size, 3), "uint8", count + warmup, seed)
    if preload:
        samples = iter(list(samples))
    first = next(iter(samples), None)
    if first is None:
        raise ConfigError(f"source {source} gave no frames")
    if shape is not None and first.array.shape != shape:
        raise ConfigError(
            f"source {source} gives frames of shape {list(first.array.shape)}, but "
            f"{plan.model.name if plan else 'the model'} takes {list(shape)}"
        )

    def chained() -> Iterator[sources.Sample]:
        yield first
        yield from samples

    settings = kafka_settings(bootstrap)
    follow = follower.frames_topic(pipeline) if follower is not None and pipeline else None
    with progress_bar("streaming") as progress:
        task = progress.add_task("frames", total=count)
        report = run_stream(
            settings,
            target,
            chained(),
            rate_hz=rate or None,
            sensors=sensors,
            max_message_bytes=limit,
            on_sent=lambda n: progress.update(task, completed=n),
            encoding=TensorEncoding.parse(encoding),
            run_id=run_id,
            warmup=warmup,
            follow=follow,
        )
    if follower is not None:
        follower.close()
    target = ", ".join(report.topics) or target
    console.print(
        f"streamed {report.frames} frames ({report.labelled} labelled) to {target} "
        f"in {report.seconds:.1f} s ({report.rate_hz:.1f} frames/s, "
        f"{report.bytes / 1e6:.1f} MB), run {report.run_id}"
    )


def _follower(pipeline: str, bootstrap: str | None) -> PlanFollower:
    """A follower of the plans topic that knows an active version of `pipeline`."""
    from edgesplit.orchestrator.control import PlanFollower  # noqa: PLC0415

    follower = PlanFollower(kafka_settings(bootstrap))
    if follower.current(pipeline) is None:
        follower.close()
        raise ConfigError(
            f"no active version of pipeline {pipeline!r} is published; publish one with "
            "`edgesplit deploy PLAN --publish`"
        )
    return follower
