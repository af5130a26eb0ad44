"""Options shared by many commands, and turning them into settings objects."""

from __future__ import annotations

import enum
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgesplit.broker import LocalBroker
from edgesplit.config import KafkaSettings, cache_dir, state_dir
from edgesplit.orchestrator.plan import Delivery

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


ExactlyOnce = Annotated[
    bool,
    typer.Option(
        "--exactly-once",
        help="Answer every frame exactly once, even when a stage crashes mid-batch: a stage "
        "commits its outputs and input offsets together, in Kafka transactions. Default: "
        "at-least-once (after a crash a frame may be answered twice, never lost).",
    ),
]


def delivery(exactly_once: bool) -> Delivery:
    return "exactly-once" if exactly_once else "at-least-once"


class Objective(enum.StrEnum):
    """What `plan auto` and `orchestrate` maximise."""

    throughput = "throughput"  # the slowest stage or link
    latency = "latency"  # compute + codec + broker hops + transfer, per frame


def local_broker(home: Path | None = None) -> LocalBroker:
    env_home = os.environ.get("EDGESPLIT_BROKER_HOME")
    chosen = home or (Path(env_home) if env_home else state_dir() / "broker")
    return LocalBroker(chosen, cache_dir())


def kafka_settings(bootstrap: str | None, *, check: bool = True) -> KafkaSettings:
    """--bootstrap if given, else the running local broker (a clear error if there is none).

    With `check`, the cluster must answer a metadata request within 10 s: a command fails
    at once with the reason rather than timing out halfway. Long-running processes (a
    stage) pass check=False and let the client wait for a broker that is still starting.
    """
    from edgesplit.kafka.admin import ping  # noqa: PLC0415

    settings = KafkaSettings(bootstrap) if bootstrap else local_broker().settings()
    if check:
        ping(settings, timeout_s=10)
    return settings


def resolve_model(model: str) -> tuple[str, Path, str | None]:
    """A zoo model name (exported on first use) or an .onnx path -> (name, onnx path, classes)."""
    from edgesplit.models.export import ensure_onnx  # noqa: PLC0415 - torch only on demand
    from edgesplit.models.zoo import get_model  # noqa: PLC0415

    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            from edgesplit.errors import ConfigError  # noqa: PLC0415

            raise ConfigError(f"model file {path} does not exist")
        return path.stem, path, None
    info = get_model(model)  # ConfigError naming the known models
    cached = cache_dir() / "models"
    with err_console.status(f"preparing {info.name} (exported to ONNX once, cached in {cached})"):
        onnx_path = ensure_onnx(info.name, cache_dir())
    return info.name, onnx_path, info.classes


def int_list(text: str, what: str) -> tuple[int, ...]:
    """Comma-separated integers (sorted, no repeats); `what` names the option in errors."""
    try:
        return tuple(sorted({int(p) for p in text.split(",") if p.strip()}))
    except ValueError:
        raise typer.BadParameter(f"{what} takes integers like 1,4, not {text!r}") from None


def tier_pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """Repeated TIER=VALUE options as a mapping; a malformed one is a clear error."""
    from edgesplit.errors import ConfigError  # noqa: PLC0415

    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{what} takes TIER=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def progress_bar(label: str = "{task.description}") -> Progress:
    """The progress bar of long commands: on stderr, gone when done, off when not a terminal."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


class Lines:
    """Progress as timestamped lines on stderr, where no spinner or bar can be drawn (a
    log file, CI, `nohup`): the first message at once, then at most one every `every_s`,
    so a validation of an hour says where it is without flooding its log. Silent on a
    terminal, where the spinner or bar shows the same."""

    def __init__(
        self,
        every_s: float = 30.0,
        *,
        quiet: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_s = every_s
        self.quiet = err_console.is_terminal if quiet is None else quiet
        self._clock = clock
        self._last: float | None = None

    def update(self, message: str) -> None:
        now = self._clock()
        if self.quiet or (self._last is not None and now - self._last < self.every_s):
            return
        self._last = now
        err_console.print(f"{time.strftime('%H:%M:%S')} {message}", highlight=False)


class Status(Protocol):
    def update(self, status: str, /) -> None: ...


@contextmanager
def status(message: str) -> Iterator[Status]:
    """What a long command is doing: a spinner on a terminal, else `Lines`."""
    if err_console.is_terminal:
        with err_console.status(message) as spinner:
            yield spinner
        return
    lines = Lines(quiet=False)
    lines.update(message)
    yield lines


@contextmanager
def ctrl_c() -> Iterator[threading.Event]:
    """An event that Ctrl-C sets (instead of raising), for the duration of the block: a
    KeyboardInterrupt raised inside a librdkafka call can leave the client mid-request."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
