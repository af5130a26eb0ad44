"""The emulated tiers testbed: an edge device on this machine, behind a shaped uplink.

`up` builds, in this order: a network namespace joined to the host by a veth pair
(bench.netns), a token-bucket filter on the edge's egress (bench.shaping), a cgroup with
a CPU quota (bench.cgroups), and a second listener of the local broker on the pair's
host-side address (the broker restarts for it; topics survive). Processes started
through `wrap(cmd)` run in both the namespace and the cgroup and reach Kafka at
`edge_bootstrap`, so their traffic, and only theirs, crosses the shaped uplink. Host
processes keep using the broker's loopback listener.

A JSON state file under the state directory lets `status`, `set` and `down` work from
any shell; `down` removes everything `up` made and is safe to repeat, and `up` first
clears the leftovers of a run that crashed.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgesplit.bench import cgroups, netns, shaping
from edgesplit.bench.privileges import require_host, tool
from edgesplit.broker import LocalBroker
from edgesplit.errors import ConfigError, TestbedError
from edgesplit.log import get_logger

log = get_logger("testbed")

EDGE_LISTENER = "EDGE"
DEFAULT_NAME = "edgesplit"
DEFAULT_SUBNET = "10.213.37.0/30"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,12}")  # + "-h"/"-e" fits the 15 characters of a link


@dataclass(frozen=True)
class TestbedConfig:
    """What the edge looks like: its CPUs, its uplink, and where it lives."""

    __test__ = False  # not a pytest test class, despite its name

    edge_cpu: float = 0.5
    uplink: str = "10mbit"
    uplink_burst: str | None = None  # None: 10 ms of tokens, at least 16 KiB
    name: str = DEFAULT_NAME
    subnet: str = DEFAULT_SUBNET


@dataclass(frozen=True)
class TestbedState:
    """A testbed that is up: every name and figure `status`, `set` and `down` need."""

    __test__ = False

    name: str
    namespace: str
    veth_host: str
    veth_edge: str
    host_ip: str
    edge_ip: str
    prefix_len: int
    cgroup: str
    cgroup_version: int
    edge_cpu: float
    cpu_period_us: int
    cpu_quota_us: int
    uplink: str
    uplink_bps: int
    uplink_burst: str | None
    burst_bytes: int
    queue_bytes: int
    edge_bootstrap: str
    broker_home: str
    started_at: float

    @property
    def link(self) -> netns.EdgeLink:
        return netns.EdgeLink(
            self.namespace, self.veth_host, self.veth_edge, self.host_ip, self.edge_ip,
            self.prefix_len,
        )  # fmt: skip

    @property
    def cpu_group(self) -> cgroups.CpuCgroup:
        return cgroups.CpuCgroup(Path(self.cgroup), self.cgroup_version)

    @property
    def uplink_shaping(self) -> shaping.Shaping:
        return shaping.Shaping(self.uplink_bps, self.burst_bytes, self.queue_bytes)


def edge_link(name: str, subnet: str) -> netns.EdgeLink:
    """The namespace, veth names and addresses a testbed called `name` uses."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"bad testbed name {name!r}: 1-13 lower-case letters, digits and '-', "
            "starting with a letter"
        )
    host_ip, edge_ip, prefix_len = netns.plan_addresses(subnet)
    return netns.EdgeLink(f"{name}-edge", f"{name}-h", f"{name}-e", host_ip, edge_ip, prefix_len)


class Testbed:
    """The emulated edge of this machine; `broker` is the local broker it listens on."""

    __test__ = False

    def __init__(self, state_dir: Path, broker: LocalBroker) -> None:
        self.state_dir = state_dir
        self.broker = broker
        self.state_file = state_dir / "testbed.json"

    # --- state --------------------------------------------------------------------

    def state(self) -> TestbedState | None:
        try:
            return TestbedState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, state: TestbedState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2))

    def problems(self, state: TestbedState) -> list[str]:
        """What is missing of a recorded testbed (empty: all there)."""
        found = _network_problems(state)
        broker = self._recorded_broker(state)
        running = broker.running_state()
        if running is None:
            found.append(f"the local broker ({broker.home}) is not running")
        elif running.listeners.get(EDGE_LISTENER) != state.edge_bootstrap:
            found.append(f"the local broker has no {EDGE_LISTENER} listener at {state.host_ip}")
        return found

    # --- life cycle -----------------------------------------------------------------

    def up(self, config: TestbedConfig) -> TestbedState:
        """Build the testbed and return its state; one that is up already is reconfigured."""
        require_host("`edgesplit testbed up`")
        link = edge_link(config.name, config.subnet)
        uplink = shaping.shaping_for(config.uplink, config.uplink_burst)
        quota = cgroups.quota_for(config.edge_cpu)
        current = self.state()
        if current is not None:
            if current.link == link and not _network_problems(current):
                log.info("testbed_reconfiguring", namespace=link.namespace)
                return self._reconfigure(
                    current, config.uplink, config.uplink_burst, config.edge_cpu
                )
            if current.link != link and netns.namespace_exists(current.namespace):
                raise TestbedError(
                    f"another testbed is up (namespace {current.namespace}, "
                    f"{current.host_ip}); run `edgesplit testbed down` first"
                )
            self._clear(current.link, current.cpu_group)  # what is left of it
            self.state_file.unlink(missing_ok=True)
        began = time.monotonic()
        group = cgroups.CpuCgroup.under(cgroups.detect(), link.namespace)
        self._clear(link, group)  # the leftovers of a run that crashed
        clashes = netns.conflicting_routes(link.subnet)
        if clashes:
            raise TestbedError(
                f"the testbed subnet {link.subnet} overlaps {', '.join(clashes)}; "
                "choose another subnet"
            )
        state = TestbedState(
            name=config.name, **asdict(link), cgroup=str(group.path),
            cgroup_version=group.version, edge_cpu=quota.cpus, cpu_period_us=quota.period_us,
            cpu_quota_us=quota.quota_us, uplink=config.uplink, uplink_bps=uplink.rate_bps,
            uplink_burst=config.uplink_burst, burst_bytes=uplink.burst_bytes,
            queue_bytes=uplink.queue_bytes, edge_bootstrap="",
            broker_home=str(self.broker.home), started_at=time.time(),
        )  # fmt: skip
        self._save(state)  # before anything exists: `down` can clear a half-built testbed
        try:
            netns.create(link)
            shaping.apply(link.namespace, link.veth_edge, uplink)
            group.create()
            group.set_quota(quota)
            state = replace(state, edge_bootstrap=self._attach_broker(link.host_ip))
        except BaseException:
            self._clear(link, group)
            self.state_file.unlink(missing_ok=True)
            raise
        self._save(state)
        log.info(
            "testbed_up", namespace=link.namespace, edge_cpu=state.edge_cpu,
            uplink_bps=state.uplink_bps, edge_bootstrap=state.edge_bootstrap,
            seconds=round(time.monotonic() - began, 1),
        )  # fmt: skip
        return state

    def set(
        self,
        *,
        uplink: str | None = None,
        edge_cpu: float | None = None,
        uplink_burst: str | None = None,
    ) -> TestbedState:
        """Change the uplink and/or the edge's CPUs of the running testbed, live.

        Processes on the edge keep running; a new rate with no burst given gets the
        default burst for that rate (or keeps the burst given at `up`).
        """
        require_host("`edgesplit testbed set`")
        state = self._require_state()
        missing = _network_problems(state)
        if missing:
            raise TestbedError(
                f"the testbed is broken ({'; '.join(missing)}); run `edgesplit testbed up` again"
            )
        burst = uplink_burst if uplink_burst is not None else state.uplink_burst
        return self._reconfigure(state, uplink or state.uplink, burst, edge_cpu)

    def down(self) -> None:
        """Remove all `up` made; the broker keeps only its loopback listeners. Repeatable.

        Only the recorded testbed is touched (its state is written before `up` creates
        anything, so even a crashed `up` is recorded): names are machine-wide, and a
        testbed of another state directory is not ours to remove.
        """
        require_host("`edgesplit testbed down`")
        state = self.state()
        if state is None:
            log.info("testbed_not_up", state_file=str(self.state_file))
            return
        try:
            _detach_broker(self._recorded_broker(state))
        finally:
            self._clear(state.link, state.cpu_group)
            self.state_file.unlink(missing_ok=True)
        log.info("testbed_down", namespace=state.namespace)

    def wrap(self, cmd: list[str]) -> list[str]:
        """`cmd` made to run on the edge: it joins the cgroup, enters the namespace, execs.

        The pid stays the same throughout (sh execs nsenter, which execs `cmd`), so
        `Popen(testbed.wrap(cmd)).pid` is `cmd`'s pid and signals reach it directly.
        Only the network namespace changes (nsenter --net, not `ip netns exec`, which
        would mount a sysfs of its own over /sys and hide the cgroup file systems):
        a runtime that sizes itself from its cgroup's CPU limit still sees it.
        """
        state = self._require_state()
        procs = shlex.quote(str(state.cpu_group.procs_file))
        nsenter = shlex.quote(tool("nsenter"))
        netns_file = shlex.quote(f"{netns.NETNS_DIR}/{state.namespace}")
        script = f'echo $$ > {procs} && exec {nsenter} --net={netns_file} -- "$@"'
        return ["/bin/sh", "-c", script, state.namespace, *cmd]

    def edge_pids(self) -> list[int]:
        """The processes running on the edge (in its cgroup)."""
        state = self.state()
        return state.cpu_group.pids() if state else []

    # --- internals ------------------------------------------------------------------

    def _require_state(self) -> TestbedState:
        state = self.state()
        if state is None:
            raise TestbedError("no testbed is up; start one with `edgesplit testbed up`")
        return state

    def _reconfigure(
        self, state: TestbedState, uplink: str, burst: str | None, edge_cpu: float | None
    ) -> TestbedState:
        new = shaping.shaping_for(uplink, burst)
        quota = cgroups.quota_for(edge_cpu if edge_cpu is not None else state.edge_cpu)
        if (
            new != state.uplink_shaping
            or shaping.counters(state.namespace, state.veth_edge) is None
        ):
            shaping.apply(state.namespace, state.veth_edge, new)
        state.cpu_group.set_quota(quota)
        if self._recorded_broker(state) is not self.broker:  # `up` with another --home
            _detach_broker(self._recorded_broker(state))
        state = replace(
            state, uplink=uplink, uplink_bps=new.rate_bps, uplink_burst=burst,
            burst_bytes=new.burst_bytes, queue_bytes=new.queue_bytes, edge_cpu=quota.cpus,
            cpu_period_us=quota.period_us, cpu_quota_us=quota.quota_us,
            edge_bootstrap=self._attach_broker(state.host_ip), broker_home=str(self.broker.home),
        )  # fmt: skip
        self._save(state)
        log.info("testbed_set", uplink_bps=state.uplink_bps, edge_cpu=state.edge_cpu)
        return state

    def _clear(self, link: netns.EdgeLink, group: cgroups.CpuCgroup) -> None:
        """Remove what a testbed of these names left: processes, namespace, pair, cgroup."""
        group.empty()
        netns.remove(link)
        group.remove()

    def _attach_broker(self, host_ip: str) -> str:
        """The broker's EDGE listener on `host_ip`: a restart if it has none there yet."""
        running = self.broker.running_state()
        wanted = {EDGE_LISTENER: host_ip}
        if running is not None:
            address = running.listeners.get(EDGE_LISTENER, "")
            if address.rpartition(":")[0] == host_ip:
                return address
            wanted = _hosts(running.listeners) | wanted
            log.info("broker_restarting", reason="edge_listener_added", home=str(self.broker.home))
            self.broker.stop()
        return self.broker.start(extra_listeners=wanted).state.listeners[EDGE_LISTENER]

    def _recorded_broker(self, state: TestbedState) -> LocalBroker:
        """The broker the testbed was attached to (`up --home` may have named another)."""
        if Path(state.broker_home) == self.broker.home:
            return self.broker
        return LocalBroker(Path(state.broker_home), self.broker.cache)


def _network_problems(state: TestbedState) -> list[str]:
    found: list[str] = []
    if not netns.namespace_exists(state.namespace):
        found.append(f"namespace {state.namespace} is gone")
    if not netns.link_exists(state.veth_host):
        found.append(f"veth {state.veth_host} is gone")
    if not state.cpu_group.exists():
        found.append(f"cgroup {state.cgroup} is gone")
    return found


def _detach_broker(broker: LocalBroker) -> None:
    """Restart `broker` without its EDGE listener, if it runs with one."""
    running = broker.running_state()
    if running is None or EDGE_LISTENER not in running.listeners:
        return
    log.info("broker_restarting", reason="edge_listener_removed", home=str(broker.home))
    broker.stop()
    rest = {n: h for n, h in _hosts(running.listeners).items() if n != EDGE_LISTENER}
    broker.start(extra_listeners=rest)


def _hosts(listeners: dict[str, str]) -> dict[str, str]:
    """name -> "host:port" as name -> host."""
    return {name: address.rpartition(":")[0] for name, address in listeners.items()}
