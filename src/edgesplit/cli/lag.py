"""`edgesplit lag`: how far behind each consumer group is, in records and in seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edgesplit.cli.options import Bootstrap, console, ctrl_c, err_console, kafka_settings
from edgesplit.consumers.lagmonitor import DEFAULT_PREFIX, LagMonitor, LagSnapshot, LagTargets
from edgesplit.consumers.lagstatus import LagRules, Status

_STYLE = {
    Status.OK: "green",
    Status.WARN: "yellow",
    Status.STALL: "bold red",
    Status.STOP: "bold red",
    Status.ERR: "bold red",
}


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _render(snap: LagSnapshot) -> Group:
    when = time.strftime("%H:%M:%S", time.localtime(snap.at))
    parts: list[Table | Text] = [Text(f"consumer lag at {when}", style="dim")]
    if not snap.groups:
        parts.append(Text("no consumer groups to show yet"))
    for report in snap.groups:
        status, lag = report.status, report.lag
        title = Text(status.group, style="bold")
        if lag is not None:
            title.append(
                f"  {lag.state.lower()}, {lag.members} members, lag {lag.total_lag:,}, "
                f"{_age(lag.max_time_lag_s)} behind"
            )
        table = Table()
        for col in ("partition", "committed", "end", "lag", "time lag", "status"):
            table.add_column(col, justify="left" if col == "partition" else "right")
        statuses = {(p.topic, p.partition): p.status for p in status.partitions}
        for p in lag.partitions if lag else ():
            part_status = statuses.get((p.topic, p.partition))
            table.add_row(
                p.name,
                "-" if p.committed is None else f"{p.committed:,}",
                f"{p.end:,}",
                f"{p.lag:,}",
                _age(p.time_lag_s),
                Text(str(part_status or ""), style=_STYLE.get(part_status or Status.OK, "")),
            )
        verdict = Text.assemble((str(status.status), _STYLE[status.status]), f"  {status.rule}")
        parts.extend([Text(), title, *([table] if lag and lag.partitions else []), verdict])
    return Group(*parts)


def _targets(plan_file: Path | None, groups: list[str] | None, prefix: str | None) -> LagTargets:
    chosen = [o for o, v in (("--plan", plan_file), ("--group", groups), ("--prefix", prefix)) if v]
    if len(chosen) > 1:
        raise typer.BadParameter(f"choose one of --plan, --group and --prefix, not {chosen}")
    if plan_file is not None:
        from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

        return LagTargets.of_plan(load_plan(plan_file))
    if groups:
        return LagTargets.named(tuple(groups))
    return LagTargets.with_prefix(DEFAULT_PREFIX if prefix is None else prefix)


def lag(
    plan_file: Annotated[
        Path | None, typer.Option("--plan", "-p", help="Watch the groups of this plan's stages.")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="A consumer group (repeatable).")
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Every consumer group whose name starts with this "
            f"(the default, with none of --plan, --group, --prefix: {DEFAULT_PREFIX!r})."
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="A live table, refreshed every interval.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between polls (--watch, --prometheus).")
    ] = 5.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per poll, one line each.")
    ] = False,
    prometheus: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, metavar="PORT", help="Serve Prometheus gauges on 127.0.0.1:PORT."
        ),
    ] = None,
    window: Annotated[
        int, typer.Option(min=2, help="Observations per partition that statuses judge.")
    ] = 5,
    stop_after: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds without a new commit, while lag > 0, before a group is STOP."
        ),
    ] = 60.0,
    bootstrap: Bootstrap = None,
) -> None:
    """Offset lag and time lag per group and partition, with a status per group: OK, WARN
    (lag growing), STALL (commits stuck), STOP (no commits), ERR (missing or unreachable).

    Statuses judge a window of polls: a single poll shows lag, --watch shows trends.
    """
    targets = _targets(plan_file, group, prefix)
    rules = LagRules(window=window, stop_after_s=stop_after)
    settings = kafka_settings(bootstrap)
    with LagMonitor(settings, targets, rules) as monitor:
        if not watch and prometheus is None:
            snap = monitor.poll(strict=True)
            if as_json:
                from edgesplit.consumers.lagexport import snapshot_json  # noqa: PLC0415

                typer.echo(json.dumps(snapshot_json(snap)))
            else:
                console.print(_render(snap))
            return
        _run(monitor, interval=interval, as_json=as_json, watch=watch, port=prometheus)


def _run(
    monitor: LagMonitor, *, interval: float, as_json: bool, watch: bool, port: int | None
) -> None:
    from edgesplit.consumers.lagexport import (  # noqa: PLC0415
        LagCollector,
        MetricsServer,
        snapshot_json,
    )

    collector = LagCollector()
    server = MetricsServer(collector, port) if port is not None else None
    if server is not None:
        err_console.print(
            f"serving Prometheus metrics at {server.url} (Ctrl-C stops)", soft_wrap=True
        )
    live = Live(console=console, auto_refresh=False) if watch and not as_json else None
    try:
        if live is not None:
            live.start()
        with ctrl_c() as stop:
            for snap in monitor.every(interval, stop=stop):
                collector.update(snap)
                if as_json:
                    typer.echo(json.dumps(snapshot_json(snap)))
                elif live is not None:
                    live.update(_render(snap), refresh=True)
    finally:
        if live is not None:
            live.stop()
        if server is not None:
            server.close()
