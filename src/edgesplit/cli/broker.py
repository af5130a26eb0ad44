"""`edgesplit broker`: the local Kafka broker (KRaft, single node) from Maven Central jars."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.broker import KAFKA_VERSION
from edgesplit.cli.options import BrokerHome, console, err_console, local_broker
from edgesplit.errors import ConfigError

app = typer.Typer(
    help=f"Run a real Apache Kafka {KAFKA_VERSION} broker on this machine (KRaft, one node, "
    "loopback only). Its jars come from Maven Central once and are cached per user.",
    no_args_is_help=True,
)

NOT_RUNNING = 3  # like `systemctl status`: the program ran fine, the broker is not running


def _overrides(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE (a broker property), got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@app.command()
def install(home: BrokerHome = None) -> None:
    """Fetch Kafka's jars from Maven Central into the per-user cache (once)."""
    with err_console.status("fetching Kafka jars from Maven Central (once)..."):
        libs = local_broker(home).install()
    console.print(f"Kafka {KAFKA_VERSION} jars ready in {libs}")


@app.command()
def start(
    home: BrokerHome = None,
    port: Annotated[
        int | None, typer.Option(help="Client port [default: the last one, else a free one].")
    ] = None,
    controller_port: Annotated[
        int | None, typer.Option(help="KRaft controller port [default: a free one].")
    ] = None,
    heap_mb: Annotated[int, typer.Option(min=128, help="JVM heap in MiB.")] = 512,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker to answer.")] = 120,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a broker property, KEY=VALUE (repeatable)."),
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Wipe the broker's data (all topics) first.")] = False,
) -> None:
    """Start the broker (or reuse the running one) and wait until it answers."""
    broker = local_broker(home)
    with err_console.status("starting Kafka..."):
        result = broker.start(
            port=port,
            controller_port=controller_port,
            heap_mb=heap_mb,
            timeout_s=timeout,
            overrides=_overrides(set_ or []),
            fresh=fresh,
        )
    state = result.state
    if result.reused:
        console.print(
            f"Kafka {state.version} already running at {state.bootstrap} (pid {state.pid})"
        )
    else:
        console.print(
            f"Kafka {state.version} ready at {state.bootstrap} "
            f"(started in {result.seconds:.1f} s, pid {state.pid})"
        )
    console.print(f"export EDGESPLIT_BOOTSTRAP={state.bootstrap}", style="dim")


@app.command()
def stop(
    home: BrokerHome = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait before SIGKILL.")] = 30,
) -> None:
    """Stop the broker gracefully (SIGTERM, wait, then SIGKILL)."""
    broker = local_broker(home)
    state = broker.running_state()
    if not broker.stop(timeout_s=timeout) or state is None:
        console.print("no local broker was running")
        return
    console.print(f"stopped Kafka at {state.bootstrap} (pid {state.pid})")


@app.command()
def status(
    home: BrokerHome = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the broker's address, pid, uptime and topics. Exit code 3 if it is not running."""
    broker = local_broker(home)
    st = broker.status()
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "running": st.running,
                    "answering": st.cluster is not None,
                    "state": asdict(st.state) if st.state and st.running else None,
                    "topics": list(st.cluster.topics) if st.cluster else None,
                    "home": str(broker.home),
                }
            )
        )
    elif not st.running or st.state is None:
        console.print(f"no local broker running (home {broker.home})")
    else:
        s = st.state
        table = Table(show_header=False, box=None)
        table.add_row("bootstrap", s.bootstrap)
        table.add_row("state", "answering" if st.cluster else "starting or not answering")
        table.add_row("kafka", s.version)
        table.add_row("pid", str(s.pid))
        table.add_row("uptime", f"{time.time() - s.started_at:.0f} s")
        table.add_row("topics", str(len(st.cluster.topics)) if st.cluster else "?")
        table.add_row("home", s.home)
        table.add_row("log", str(broker.log_file))
        console.print(table)
    if not st.running:
        raise typer.Exit(NOT_RUNNING)


@app.command()
def logs(
    home: BrokerHome = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many lines.")] = 40,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
) -> None:
    """Print the last lines of the broker's log."""
    broker = local_broker(home)
    for line in broker.tail(lines):
        typer.echo(line)
    if not follow:
        return
    path = broker.log_file
    with path.open() as fh:
        fh.seek(0, 2)
        try:
            while True:
                line = fh.readline()
                if line:
                    typer.echo(line, nl=False)
                else:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            return
