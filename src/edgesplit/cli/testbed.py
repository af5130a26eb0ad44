"""`edgesplit testbed`: emulate an edge device on this machine (CPU quota, shaped uplink)."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from edgesplit.bench.rates import format_size
from edgesplit.bench.testbed import DEFAULT_NAME, DEFAULT_SUBNET, Testbed, TestbedConfig
from edgesplit.bench.testbed_status import testbed_status
from edgesplit.cli.options import BrokerHome, console, err_console, local_broker
from edgesplit.config import state_dir
from edgesplit.errors import ConfigError

app = typer.Typer(
    help="Emulate an edge device on this machine: a network namespace behind a shaped "
    "uplink (tbf on a veth pair) and a CPU quota (cgroup); the local broker gets a "
    "listener on the link. Needs root.",
    no_args_is_help=True,
)

NOT_UP = 3  # like `broker status`: the command ran fine, there is no testbed

EdgeCpu = Annotated[
    float,
    typer.Option(help="CPUs of the edge: its CFS quota (0.5 = half of one core)."),
]
Uplink = Annotated[
    str, typer.Option(help="Edge -> broker rate, in bits per second: 10mbit, 500kbit, 1gbit.")
]
UplinkBurst = Annotated[
    str | None,
    typer.Option(
        help="Token bucket size in bytes (32kb, 64kb) [default: 10 ms at the rate, >= 16kb].",
        show_default=False,
    ),
]


@app.command()
def up(
    edge_cpu: EdgeCpu = 0.5,
    uplink: Uplink = "10mbit",
    uplink_burst: UplinkBurst = None,
    subnet: Annotated[
        str, typer.Option(help="Private subnet of the host <-> edge link (a /30 will do).")
    ] = DEFAULT_SUBNET,
    name: Annotated[
        str, typer.Option(help="Testbed name: namespace NAME-edge, veths NAME-h/NAME-e.")
    ] = DEFAULT_NAME,
    home: BrokerHome = None,
) -> None:
    """Bring the emulated edge up (or reconfigure the one that is up)."""
    testbed = Testbed(state_dir(), local_broker(home))
    was_up = testbed.state() is not None
    config = TestbedConfig(edge_cpu, uplink, uplink_burst, name=name, subnet=subnet)
    with err_console.status("bringing the testbed up (the local broker restarts)..."):
        state = testbed.up(config)
    verb = "reconfigured" if was_up else "up"
    console.print(
        f"testbed {verb}: edge {state.edge_ip} in namespace {state.namespace}, "
        f"{state.edge_cpu:g} CPU, uplink {state.uplink_shaping.describe()}"
    )
    console.print(f"edge clients bootstrap at {state.edge_bootstrap}")
    console.print(
        f"run a command on the edge: {shlex.join(testbed.wrap(['COMMAND']))} [ARGS...]",
        style="dim",
        markup=False,
    )


@app.command("set")
def set_(
    uplink: Annotated[
        str | None, typer.Option(help="New uplink rate (10mbit, 500kbit).", show_default=False)
    ] = None,
    edge_cpu: Annotated[
        float | None, typer.Option(help="New CPUs of the edge.", show_default=False)
    ] = None,
    uplink_burst: UplinkBurst = None,
    home: BrokerHome = None,
) -> None:
    """Change the uplink and/or the edge's CPUs of the running testbed, live."""
    if uplink is None and edge_cpu is None and uplink_burst is None:
        raise ConfigError("nothing to change: give --uplink, --edge-cpu and/or --uplink-burst")
    state = Testbed(state_dir(), local_broker(home)).set(
        uplink=uplink, edge_cpu=edge_cpu, uplink_burst=uplink_burst
    )
    console.print(f"testbed set: {state.edge_cpu:g} CPU, uplink {state.uplink_shaping.describe()}")


@app.command()
def down(home: BrokerHome = None) -> None:
    """Remove the testbed: processes on the edge, namespace, veths, qdisc, cgroup, listener."""
    testbed = Testbed(state_dir(), local_broker(home))
    state = testbed.state()
    with err_console.status("taking the testbed down..."):
        testbed.down()
    console.print("testbed down" if state else "no testbed was up")


@app.command()
def status(
    home: BrokerHome = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the testbed's rates, quota, addresses, broker listener and edge processes.

    Exit code 3 if no testbed is up.
    """
    st = testbed_status(Testbed(state_dir(), local_broker(home)))
    if as_json:
        console.print_json(json.dumps({"up": st is not None, **(asdict(st) if st else {})}))
    elif st is None:
        console.print("no testbed is up")
    else:
        s = st.state
        table = Table(show_header=False, box=None)
        table.add_row(
            "edge cpu", f"{s.edge_cpu:g} CPU ({s.cpu_quota_us} us per {s.cpu_period_us} us)"
        )
        table.add_row("uplink", s.uplink_shaping.describe())
        if st.sent_bytes is not None:
            table.add_row("sent", f"{format_size(st.sent_bytes)}, {st.dropped_packets} dropped")
        table.add_row("downlink", "unshaped")
        table.add_row("namespace", s.namespace)
        table.add_row("host side", f"{s.veth_host} {s.host_ip}/{s.prefix_len}")
        table.add_row("edge side", f"{s.veth_edge} {s.edge_ip}/{s.prefix_len}")
        table.add_row("cgroup", f"{s.cgroup} (v{s.cgroup_version})")
        table.add_row("edge listener", f"EDGE://{s.edge_bootstrap}")
        table.add_row("broker home", s.broker_home)
        table.add_row("up for", f"{time.time() - s.started_at:.0f} s")
        table.add_row(
            "edge processes",
            "\n".join(escape(f"{p.pid} {p.command}") for p in st.processes) or "none",
        )
        if not st.checked:
            table.add_row("health", "not checked (needs root)")
        else:
            table.add_row("health", "; ".join(st.problems) or "ok")
        console.print(table)
    if st is None:
        raise typer.Exit(NOT_UP)
