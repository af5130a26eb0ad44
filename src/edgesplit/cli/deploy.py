"""`edgesplit deploy`: create a plan's topics and run its stages as local processes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, err_console, kafka_settings
from edgesplit.config import KafkaSettings, state_dir
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
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Publish PLAN on the control plane (its partitions, topics and record) "
            "instead of starting stages here: the agents of its tiers run them.",
        ),
    ] = False,
    local_agents: Annotated[
        bool,
        typer.Option(
            "--local-agents",
            help="With --publish: also start one agent per tier of PLAN on this machine "
            "(stopped by --stop) and wait until its stages are up.",
        ),
    ] = False,
    retire: Annotated[
        str | None,
        typer.Option(
            "--retire",
            metavar="PIPELINE:VERSION",
            help="Retire a published version: the agents stop its stages.",
        ),
    ] = None,
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            "--replicas",
            metavar="PIPELINE:VERSION:STAGE=N",
            help="Set how many processes run a stage of a published version. Repeatable.",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the stages to join.")] = 60,
) -> None:
    """Deploy PLAN on this machine: create its topics, start one process per stage.

    With --publish, deploy it through the control plane instead (agents run the stages).
    """
    from edgesplit.orchestrator import deploy as dep  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    state = state_dir()
    if retire is not None or replicas:
        _control(retire, replicas or [], kafka_settings(bootstrap))
        return
    if status:
        _status(state)
        return
    if stop:
        _stop(state, plan_file)
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
    if publish:
        _publish(plan_file, settings, state, placements, local_agents=local_agents, wait=wait)
        return
    with err_console.status("creating topics and starting stages..."):
        d = dep.deploy(plan_file, settings, state, wait_s=wait, placements=placements)
    console.print(
        f"deployed {d.name} on {d.bootstrap}: "
        + ", ".join(f"stage {p.stage} (pid {p.pid})" for p in d.processes)
    )
    console.print(f"logs: {Path(d.processes[0].log).parent}", style="dim")


def _status(state: Path) -> None:
    from edgesplit.orchestrator import deploy as dep  # noqa: PLC0415
    from edgesplit.orchestrator import local_agents as agents  # noqa: PLC0415

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
    for a in agents.list_local_agents(state):
        how = "running" if dep.alive(a.pid) else "gone"
        console.print(f"agent {a.tier}: pid {a.pid} ({how}), log {a.log}")


def _stop(state: Path, plan_file: Path | None) -> None:
    from edgesplit.orchestrator import deploy as dep  # noqa: PLC0415
    from edgesplit.orchestrator import local_agents as agents  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    if plan_file is not None:
        plan = load_plan(plan_file)
        names = [f"{plan.pipeline}-v{plan.version}"]
    else:
        names = [d.name for d in dep.list_deployments(state)]
    for name in names:
        stopped = dep.stop_deployment(state, name)
        if stopped:
            console.print(f"stopped {name}: {len(stopped)} stage process(es)")
    for a in agents.stop_local_agents(state):
        console.print(f"stopped the {a.tier} agent (pid {a.pid}) and its stages")


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


def _publish(
    plan_file: Path,
    settings: KafkaSettings,
    state: Path,
    placements: dict[str, Placement],
    *,
    local_agents: bool,
    wait: float,
) -> None:
    from edgesplit.orchestrator import local_agents as agents  # noqa: PLC0415
    from edgesplit.orchestrator.control import publish_plan  # noqa: PLC0415

    with err_console.status("publishing the plan, its partitions and its topics..."):
        record = publish_plan(settings, plan_file)
    console.print(f"published {record.key} (replicas {record.replicas})")
    if not local_agents:
        return
    tiers = [s.tier for s in record.plan().stages]
    started = agents.start_local_agents(tiers, settings, state, placements)
    with err_console.status("waiting for the agents to start the stages..."):
        agents.wait_for_record(settings, record, started, wait)
    console.print("stages up; agents: " + ", ".join(f"{a.tier} (pid {a.pid})" for a in started))


def _split_version(text: str) -> tuple[str, int]:
    pipeline, _, version = text.rpartition(":")
    if not pipeline or not version.lstrip("v").isdigit():
        raise ConfigError(f"expected PIPELINE:VERSION, got {text!r}")
    return pipeline, int(version.lstrip("v"))


def _control(retire: str | None, replicas: list[str], settings: KafkaSettings) -> None:
    from edgesplit.orchestrator import control  # noqa: PLC0415

    if retire is not None:
        pipeline, version = _split_version(retire)
        control.retire(settings, pipeline, version)
        console.print(f"retired {pipeline} v{version}")
    wanted: dict[tuple[str, int], dict[int, int]] = {}
    for spec in replicas:
        where, _, count = spec.partition("=")
        head, _, stage = where.rpartition(":")
        if not head or not stage.isdigit() or not count.isdigit():
            raise ConfigError(f"expected PIPELINE:VERSION:STAGE=N, got {spec!r}")
        wanted.setdefault(_split_version(head), {})[int(stage)] = int(count)
    for (pipeline, version), counts in wanted.items():
        record = control.set_replicas(settings, pipeline, version, counts)
        console.print(f"{record.key}: replicas {record.replicas}")
