"""`edgesplit agent`: run a tier's stages as the plans topic says; `edgesplit plans`: list them."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, kafka_settings
from edgesplit.config import state_dir

_IN_TESTBED = "EDGESPLIT_AGENT_IN_TESTBED"


def agent(
    ctx: typer.Context,
    tier: Annotated[str, typer.Option("--tier", help="The tier whose stages this agent runs.")],
    testbed: Annotated[
        bool,
        typer.Option(
            "--testbed",
            help="Run on the emulated edge (`edgesplit testbed up`): the agent and its "
            "stages join its CPU quota and reach the broker through its shaped uplink.",
        ),
    ] = False,
    pipeline: Annotated[
        list[str] | None,
        typer.Option("--pipeline", help="Only run these pipelines [default: every one]."),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="Where partitions, plans and stage logs go [default: the state directory]."
        ),
    ] = None,
    heartbeat: Annotated[float, typer.Option(min=0.1, help="Seconds between heartbeats.")] = 2.0,
    bootstrap: Bootstrap = None,
) -> None:
    """Follow the plans topic; keep this tier's stages of every active plan running.

    SIGTERM or Ctrl-C: stop every stage (each finishes its batch), then exit.
    """
    from edgesplit.orchestrator.agent import Agent  # noqa: PLC0415

    root = ctx.parent.params if ctx.parent is not None else {}
    home = state or state_dir()
    if testbed and os.environ.get(_IN_TESTBED) != "1":
        from edgesplit.cli.deploy import _testbed_placements  # noqa: PLC0415

        placement = _testbed_placements([tier])[tier]
        cmd = [
            sys.executable,
            "-m",
            "edgesplit",
            "--log-format",
            str(root.get("log_format", "auto")),
            "--log-level",
            str(root.get("log_level", "warning")),
            "agent",
            "--tier",
            tier,
            "--testbed",
            "--state",
            str(home),
            "--heartbeat",
            str(heartbeat),
            "--bootstrap",
            placement.bootstrap or "",
            *(a for p in pipeline or () for a in ("--pipeline", p)),
        ]
        wrapped = placement.wrap(cmd)
        # Become the agent on the edge: same pid, so whoever started this one can stop it.
        os.execve(wrapped[0], wrapped, os.environ | {_IN_TESTBED: "1"})  # noqa: S606 - argv built here
    settings = kafka_settings(bootstrap, check=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    level = str(root.get("log_level", "info"))
    Agent(tier, settings, home, heartbeat_s=heartbeat, pipelines=pipeline, log_level=level).run(
        stop
    )


def plans(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """List the plans on the control plane and the agents' latest heartbeats."""
    from edgesplit.orchestrator.control import read_plans  # noqa: PLC0415
    from edgesplit.orchestrator.heartbeats import read_agents  # noqa: PLC0415

    settings = kafka_settings(bootstrap)
    records = read_plans(settings)
    agents = read_agents(settings)
    if as_json:
        out = {
            "plans": [r.model_dump(exclude={"plan_yaml"}) for r in records.values()],
            "agents": agents,
        }
        typer.echo(json.dumps(out))
        return
    table = Table(title="plans")
    for col in ("pipeline", "version", "state", "replicas", "published"):
        table.add_column(col)
    for (name, version), r in sorted(records.items()):
        table.add_row(
            name,
            str(version),
            r.state,
            " ".join(f"{s}:{n}" for s, n in sorted(r.replicas.items())),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.published_at)),
        )
    console.print(table)
    beats = Table(title="agents")
    for col in ("agent", "cpus", "stages", "last heartbeat"):
        beats.add_column(col)
    for key, beat in sorted(agents.items()):
        running = " ".join(
            f"{s['pipeline']}/v{s['version']}#{s['stage']}x{len(s['pids'])}"
            for s in beat.get("running", [])
        )
        age = time.time() - float(beat.get("at", 0))
        beats.add_row(
            key,
            str(beat.get("cpus", "?")),
            running or "-",
            "stopped" if beat.get("stopped") else f"{age:.0f} s ago",
        )
    console.print(beats)
