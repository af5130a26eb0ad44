"""`edgesplit record` and `edgesplit replay`: a frames topic to an Avro file and back."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from edgesplit.cli.options import (
    Bootstrap,
    console,
    ctrl_c,
    err_console,
    kafka_settings,
    progress_bar,
)
from edgesplit.errors import ConfigError


class Codec(enum.StrEnum):
    deflate = "deflate"
    zstandard = "zstandard"
    null = "null"


def record(
    topic: Annotated[str, typer.Argument(help="The topic of Frame records to record.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The Avro container file to write.")
    ],
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many frames.", show_default=False)
    ] = None,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning/--latest",
            help="Record the topic from its start, or only frames that arrive from now on.",
        ),
    ] = True,
    follow: Annotated[
        bool,
        typer.Option(
            help="Keep recording past the end the topic had when recording began "
            "(always, with --latest)."
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Stop after this many seconds.", show_default=False),
    ] = None,
    idle: Annotated[
        float | None,
        typer.Option(
            min=0, help="Stop after this many seconds without a record.", show_default=False
        ),
    ] = None,
    codec: Annotated[Codec, typer.Option(help="Compression of the container.")] = Codec.deflate,
    bootstrap: Bootstrap = None,
) -> None:
    """Record a topic's frames, with their Kafka timestamps and keys, for `edgesplit replay`.

    Stops at the topic's end (unless --follow or --latest), at --count, --timeout, --idle
    or Ctrl-C; what was read until then is kept. Records that are not Frames are skipped.
    """
    from edgesplit.producers.recorder import record as run_record  # noqa: PLC0415

    settings = kafka_settings(bootstrap)
    with ctrl_c() as stop, progress_bar("recording") as progress:
        task = progress.add_task("frames", total=None)
        report = run_record(
            settings,
            topic,
            output,
            count=count,
            from_beginning=from_beginning,
            follow=follow,
            timeout_s=timeout,
            idle_s=idle,
            codec=codec.value,
            on_progress=lambda n, total: progress.update(task, completed=n, total=total),
            stop=stop,
        )
    skipped = f", skipped {report.skipped} records that are not Frames" if report.skipped else ""
    console.print(
        f"recorded {report.frames} frames from {topic} to {output} "
        f"({report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s, stopped: {report.stopped})"
        f"{skipped}",
        highlight=False,
    )


def replay(
    recording: Annotated[
        Path, typer.Argument(help="An Avro container file written by `edgesplit record`.")
    ],
    topic: Annotated[str | None, typer.Option(help="Topic to replay into.")] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", "-p", help="Replay into this plan's frames topic."),
    ] = None,
    speed: Annotated[
        str,
        typer.Option(
            help="Times real time (1: as recorded, 2: twice as fast), or max: as fast as "
            "the broker takes them."
        ),
    ] = "1",
    new_ids: Annotated[
        bool,
        typer.Option(
            help="Give the frames new ids (a new run) instead of the recorded ones: for "
            "replaying again into a pipeline that has seen them."
        ),
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Stream recorded frames back, in order, keyed as recorded, paced as recorded.

    Each frame is stamped with a new capture time; sensor ids, sequence numbers, labels
    and tensors are as recorded, and so are frame ids unless --new-ids. A missing topic is
    created with the message size limit the frames need.
    """
    from edgesplit.kafka.admin import TopicSpec  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415
    from edgesplit.producers.recording import scan_recording  # noqa: PLC0415
    from edgesplit.producers.replay import (  # noqa: PLC0415
        check_fits,
        ensure_topic,
        parse_speed,
        topic_limit,
    )
    from edgesplit.producers.replay import replay as run_replay  # noqa: PLC0415

    if (plan_file is None) == (topic is None):
        raise ConfigError("give either --topic TOPIC or --plan PLAN to say where frames go")
    pace = parse_speed(speed)
    with err_console.status(f"reading {recording}"):
        info = scan_recording(recording)
    if plan_file is not None:
        plan = load_plan(plan_file)
        check_fits(
            info, plan.model.input.shape, plan.topics.frames_max_message_bytes, plan.model.name
        )
        target, limit = plan.topics.frames, plan.topics.frames_max_message_bytes
        partitions = plan.topics.partitions
    else:
        target, limit, partitions = topic or "", topic_limit(info), max(1, info.meta.partitions)
    settings = kafka_settings(bootstrap)
    ensure_topic(settings, TopicSpec.for_messages(target, limit, partitions=partitions))
    with ctrl_c() as stop, progress_bar("replaying") as progress:
        task = progress.add_task("frames", total=info.frames)
        report = run_replay(
            settings,
            info,
            target,
            speed=pace,
            new_ids=new_ids,
            max_message_bytes=limit,
            on_sent=lambda n: progress.update(task, completed=n),
            stop=stop,
        )
    ids = f"new ids, run {report.run_id}" if report.run_id else "recorded ids"
    console.print(
        f"replayed {report.frames} frames to {target} in {report.seconds:.1f} s "
        f"(recorded over {report.recorded_s:.1f} s; {report.rate_hz:.1f} frames/s, "
        f"latest {report.max_late_ms:.1f} ms behind schedule; {ids})"
        + (", stopped early" if report.stopped else ""),
        highlight=False,
    )
