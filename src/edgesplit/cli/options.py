"""Options shared by many commands, and turning them into settings objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from edgesplit.broker import LocalBroker
from edgesplit.config import KafkaSettings, cache_dir, state_dir

console = Console()
err_console = Console(stderr=True)

Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        "-b",
        envvar="EDGESPLIT_BOOTSTRAP",
        help="Kafka bootstrap servers (HOST:PORT[,HOST:PORT]) of an existing cluster. "
        "Default: the local broker started by `edgesplit broker start`.",
        show_default=False,
    ),
]

BrokerHome = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="EDGESPLIT_BROKER_HOME",
        help="Directory of the local broker's data, logs and state "
        "[default: $XDG_STATE_HOME/edgesplit/broker].",
        show_default=False,
        file_okay=False,
    ),
]


def local_broker(home: Path | None = None) -> LocalBroker:
    env_home = os.environ.get("EDGESPLIT_BROKER_HOME")
    chosen = home or (Path(env_home) if env_home else state_dir() / "broker")
    return LocalBroker(chosen, cache_dir())


def kafka_settings(bootstrap: str | None) -> KafkaSettings:
    """--bootstrap if given, else the running local broker (a clear error if there is none)."""
    if bootstrap:
        return KafkaSettings(bootstrap)
    return local_broker().settings()
