"""The `edgesplit` command: the root app, global options and error handling."""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer
from rich.text import Text

from edgesplit import __version__
from edgesplit.cli import (
    agent,
    bench,
    broker,
    cuts,
    deadletters,
    demo,
    deploy,
    lag,
    metrics,
    models,
    orchestrate,
    plan,
    profile,
    record,
    results,
    stage,
    stream,
    testbed,
)
from edgesplit.cli.options import err_console
from edgesplit.errors import EdgesplitError
from edgesplit.log import configure


class LogFormat(enum.StrEnum):
    auto = "auto"
    console = "console"
    json = "json"


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


app = typer.Typer(
    name="edgesplit",
    help="Split computing over Kafka: cut a neural network into stages that run on an edge "
    "device, a fog box and a cloud server, passing Avro-encoded activations through topics.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(broker.app, name="broker")
app.add_typer(testbed.app, name="testbed")
app.add_typer(bench.app, name="bench")
app.add_typer(models.app, name="models")
app.command("cuts")(cuts.cuts)
app.add_typer(plan.app, name="plan")
app.add_typer(profile.app, name="profile")
app.command("deploy")(deploy.deploy)
app.command("agent")(agent.agent)
app.command("plans")(agent.plans)
app.command("orchestrate")(orchestrate.orchestrate)
app.add_typer(stage.app, name="stage")
app.command("stream")(stream.stream)
app.command("record")(record.record)
app.command("replay")(record.replay)
app.command("results")(results.results)
app.command("dead-letters")(deadletters.dead_letters)
app.command("lag")(lag.lag)
app.command("metrics")(metrics.metrics)
app.command("demo")(demo.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgesplit {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            envvar="EDGESPLIT_LOG_FORMAT",
            help="Log rendering: console on a terminal, JSON otherwise (auto).",
        ),
    ] = LogFormat.auto,
    log_level: Annotated[
        LogLevel,
        typer.Option(envvar="EDGESPLIT_LOG_LEVEL", help="Lowest level of log events shown."),
    ] = LogLevel.warning,
) -> None:
    """Global options; see each command's --help. Logs go to stderr."""
    configure(log_format.value, log_level.value)


def run() -> None:
    """Console-script entry point: an EdgesplitError is a one-line message and exit code 1."""
    try:
        app()
    except EdgesplitError as exc:
        # Text, not markup: messages hold brackets ("shape [32, 32]"); soft_wrap: one line.
        err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        sys.exit(1)
