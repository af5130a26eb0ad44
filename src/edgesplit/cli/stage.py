"""`edgesplit stage run`: one stage of a plan, as a Kafka consumer/producer."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from edgesplit.cli.options import Bootstrap, console, kafka_settings

app = typer.Typer(
    help="Run one stage of a plan (what `edgesplit deploy` starts).", no_args_is_help=True
)


@app.command()
def run(
    plan_file: Annotated[Path, typer.Argument(help="The plan file.", metavar="PLAN")],
    stage: Annotated[int, typer.Option("--stage", "-s", min=0, help="Which stage to run.")],
    bootstrap: Bootstrap = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="ONNX Runtime threads [default: the plan's].")
    ] = None,
    slow: Annotated[
        str | None,
        typer.Option(
            envvar="EDGESPLIT_SLOW_STAGE",
            help="STAGE:MS - stage STAGE spends MS more per frame computing (a deliberately "
            "slow stage, for scaling tests and demos); other stages ignore it.",
        ),
    ] = None,
) -> None:
    """Consume the stage's input topic, run its partition, produce to its output topic.

    SIGTERM or Ctrl-C: stop polling, finish the batch in flight, flush, store the offsets
    of what was delivered, exit 0.
    """
    from edgesplit.orchestrator.plan import load_plan, verify_stage_model  # noqa: PLC0415
    from edgesplit.stages.executor import Executor  # noqa: PLC0415
    from edgesplit.stages.runtime import StageRuntime  # noqa: PLC0415

    plan = load_plan(plan_file)
    spec = plan.stage(stage)
    model = verify_stage_model(plan_file, spec)
    settings = kafka_settings(bootstrap, check=False)
    executor = Executor(model, spec.inputs, spec.outputs, threads=threads or spec.threads)
    executor.warm_up(spec.batch.max_size)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stats = StageRuntime(plan, stage, executor, settings, slow_ms=_slow_ms(slow, stage)).run(stop)
    console.print(
        f"stage {stage} stopped: {stats.frames_out} frames out, {stats.dead_letters} dead letters",
        highlight=False,
    )


def _slow_ms(spec: str | None, stage: int) -> float:
    if not spec:
        return 0.0
    which, sep, ms = spec.partition(":")
    try:
        return float(ms) if sep and int(which) == stage else 0.0
    except ValueError:
        from edgesplit.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(f"--slow takes STAGE:MS (e.g. 1:20), got {spec!r}") from None
