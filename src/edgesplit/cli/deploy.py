"""`edgesplit deploy`: create a plan's topics and run its stages as local processes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, err_console, kafka_settings
from edgesplit.config import state_dir
from edgesplit.errors import ConfigError
from edgesplit.orchestrator.deploy import Placement


def deploy(
    plan_file: Annotated[
        Path | None, typer.Argument(help="The plan file to deploy (or to stop).", metavar="PLAN")
    ] = None,
    stop: Annotated[
        bool,
        typer.Option(
            "--stop",
            help="Stop the stages of PLAN (of every deployment if no "
            "PLAN is given): SIGTERM, wait, SIGKILL.",
        ),
    ] = False,
    status: Annotated[bool, typer.Option("--status", help="List deployments.")] = False,
    topics_only: Annotated[
        bool,
        typer.Option(
            "--topics-only",
            help="Only create the plan's topics (stages run elsewhere: containers, devices).",
        ),
    ] = False,
    testbed: Annotated[
        list[str] | None,
        typer.Option(
            "--testbed",
            help="Run this tier's stages on the emulated edge (`edgesplit "
            "testbed up`: its CPU quota, behind its shaped uplink). Repeatable.",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the stages to join.")] = 60,
) -> None:
    """Deploy PLAN on this machine: create its topics, start one process per stage."""
    from edgesplit.orchestrator import deploy as dep  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    state = state_dir()
    if status:
        table = Table(title="deployments")
        for col in ("deployment", "stages running", "pids", "plan"):
            table.add_column(col)
        for d in dep.list_deployments(state):
            alive = dep.running(d)
            table.add_row(
                d.name,
                f"{len(alive)}/{len(d.processes)}",
                " ".join(str(p.pid) for p in alive),
                d.plan,
            )
        console.print(table)
        return
    if stop:
        if plan_file is not None:
            plan = load_plan(plan_file)
            names = [f"{plan.pipeline}-v{plan.version}"]
        else:
            names = [d.name for d in dep.list_deployments(state)]
        for name in names:
            stopped = dep.stop_deployment(state, name)
            if stopped:
                console.print(f"stopped {name}: {len(stopped)} stage process(es)")
        return
    if plan_file is None:
        raise ConfigError("give a PLAN to deploy (or --stop / --status)")
    settings = kafka_settings(bootstrap)
    if topics_only:
        from edgesplit.kafka.admin import create_topics  # noqa: PLC0415

        created = create_topics(settings, dep.topic_specs(load_plan(plan_file)))
        console.print(f"created {len(created)} topics: {', '.join(created) or '(all existed)'}")
        return
    placements = _testbed_placements(testbed or [])
    with err_console.status("creating topics and starting stages..."):
        d = dep.deploy(plan_file, settings, state, wait_s=wait, placements=placements)
    console.print(
        f"deployed {d.name} on {d.bootstrap}: "
        + ", ".join(f"stage {p.stage} (pid {p.pid})" for p in d.processes)
    )
    console.print(f"logs: {Path(d.processes[0].log).parent}", style="dim")


def _testbed_placements(tiers: list[str]) -> dict[str, Placement]:
    if not tiers:
        return {}
    from edgesplit.bench.testbed import Testbed  # noqa: PLC0415
    from edgesplit.cli.options import local_broker  # noqa: PLC0415

    bed = Testbed(state_dir(), local_broker())
    up = bed.state()
    if up is None:
        raise ConfigError("no testbed is up: start one with `edgesplit testbed up`")
    return {tier: Placement(wrap=bed.wrap, bootstrap=up.edge_bootstrap) for tier in tiers}
