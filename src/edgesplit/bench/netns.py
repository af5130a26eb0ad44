"""The edge's network: a namespace joined to the host by a veth pair on a private subnet.

The pair's two addresses live only on the pair. The namespace has its loopback and the
edge end of the pair, and no default route: from inside, the host-side address is the
only other address there is, so nothing an edge process sends can leave the machine.
IPv6 is switched off on both ends so that no neighbour discovery chatter rides the link.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

from edgesplit.bench.hostcmd import run, run_json
from edgesplit.bench.processes import stop_all
from edgesplit.errors import ConfigError, TestbedError
from edgesplit.log import get_logger

log = get_logger("testbed.netns")

NETNS_DIR = "/var/run/netns"  # where `ip netns add` pins a namespace by name


@dataclass(frozen=True)
class EdgeLink:
    """Names and addresses of the emulated edge's network."""

    namespace: str
    veth_host: str
    veth_edge: str
    host_ip: str
    edge_ip: str
    prefix_len: int

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.host_ip}/{self.prefix_len}", strict=False)


def plan_addresses(subnet: str) -> tuple[str, str, int]:
    """A private IPv4 subnet -> (host-side address, edge-side address, prefix length)."""
    try:
        net = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as exc:
        raise ConfigError(
            f"bad testbed subnet {subnet!r} ({exc}); give a private IPv4 network such as "
            "10.213.37.0/30"
        ) from exc
    if not net.is_private or net.prefixlen > 30:
        raise ConfigError(
            f"testbed subnet {subnet} must be a private IPv4 network of at least two "
            "addresses (a /30 or larger), e.g. 10.213.37.0/30"
        )
    hosts = net.hosts()
    return str(next(hosts)), str(next(hosts)), net.prefixlen


def namespace_exists(namespace: str) -> bool:
    return any(entry.get("name") == namespace for entry in run_json("ip", "netns", "list"))


def link_exists(device: str) -> bool:
    return run("ip", "link", "show", "dev", device, check=False).returncode == 0


def namespace_pids(namespace: str) -> list[int]:
    """Processes whose network namespace is `namespace` (none if it does not exist)."""
    if not namespace_exists(namespace):
        return []
    out = run("ip", "netns", "pids", namespace, check=False).stdout
    return [int(word) for word in out.split() if word.isdigit()]


def empty(namespace: str, grace_s: float = 5.0) -> list[int]:
    """Stop the processes inside `namespace`: while one lives, the pair cannot go."""
    return stop_all(lambda: namespace_pids(namespace), f"namespace {namespace}", grace_s)


def conflicting_routes(subnet: ipaddress.IPv4Network) -> list[str]:
    """Host routes and addresses that overlap `subnet` (ours must be gone already)."""
    found: list[str] = []
    for route in run_json("ip", "-4", "route", "show", "table", "all"):
        dst = route.get("dst", "")
        if dst in ("", "default") or route.get("type") in ("broadcast", "local"):
            continue
        try:
            if ipaddress.IPv4Network(dst, strict=False).overlaps(subnet):
                found.append(f"route {dst} dev {route.get('dev', '?')}")
        except ValueError:
            continue
    for link in run_json("ip", "-4", "addr", "show"):
        for addr in link.get("addr_info", []):
            if ipaddress.IPv4Address(addr["local"]) in subnet:
                found.append(f"address {addr['local']} on {link.get('ifname', '?')}")
    return found


def create(link: EdgeLink) -> None:
    """Namespace, veth pair, addresses, links up; no routes beyond the pair's subnet."""
    ns = link.namespace
    run("ip", "netns", "add", ns)
    run(
        "ip",
        "link",
        "add",
        link.veth_host,
        "type",
        "veth",
        "peer",
        "name",
        link.veth_edge,
        "netns",
        ns,
    )
    _no_ipv6(None, link.veth_host)
    _no_ipv6(ns, link.veth_edge)
    run("ip", "addr", "add", f"{link.host_ip}/{link.prefix_len}", "dev", link.veth_host)
    run("ip", "-n", ns, "addr", "add", f"{link.edge_ip}/{link.prefix_len}", "dev", link.veth_edge)
    run("ip", "link", "set", link.veth_host, "up")
    run("ip", "-n", ns, "link", "set", link.veth_edge, "up")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    log.info("edge_link_created", namespace=ns, host_ip=link.host_ip, edge_ip=link.edge_ip)


def remove(link: EdgeLink, timeout_s: float = 10.0) -> None:
    """Stop what runs inside, delete the namespace and the pair; idempotent."""
    empty(link.namespace)
    existed = namespace_exists(link.namespace)
    if existed:
        run("ip", "netns", "delete", link.namespace)
    # The pair dies with the namespace, asynchronously; a lone host end is deleted here.
    deadline = time.monotonic() + timeout_s
    while link_exists(link.veth_host):
        existed = True
        run("ip", "link", "delete", link.veth_host, check=False)
        if time.monotonic() > deadline:
            raise TestbedError(
                f"the veth device {link.veth_host} would not go away; a process may still "
                f"hold the namespace {link.namespace} (see `ip netns identify PID`)"
            )
        time.sleep(0.05)
    if existed:
        log.info("edge_link_removed", namespace=link.namespace, veth=link.veth_host)


def _no_ipv6(namespace: str | None, device: str) -> None:
    """Switch IPv6 off on `device`; nothing to do on a kernel without IPv6."""
    key = f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6"
    if namespace is None:
        with contextlib.suppress(OSError):
            Path(key).write_text("1")
        return
    run("ip", "netns", "exec", namespace, "sh", "-c", f"[ ! -e {key} ] || echo 1 > {key}")
