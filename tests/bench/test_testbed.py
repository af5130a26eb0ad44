"""The emulated edge for real: a shaped uplink, a CPU quota, Kafka through the EDGE listener.

These need root (namespaces, tc, cgroups), as CI has: they fail, not skip, without it.
The testbed gets a name and subnet of its own per run, and its own broker, so it never
meets a testbed someone has up on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from edgesplit.bench import cgroups, shaping
from edgesplit.bench import testbed as tb
from edgesplit.bench.rates import format_rate, parse_rate
from edgesplit.broker import LocalBroker
from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.orchestrator.steal import CpuClock, steal_since

# A /30 of 10.214.0.0/16 and a name per test session: concurrent runs do not collide.
_N = os.getpid() % 16384
SUBNET = f"10.214.{_N >> 6}.{(_N & 63) * 4}/30"
NAME = f"estest{_N}"

SENDER = """
import socket, sys, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
chunk = b"x" * 65536
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    sock.sendall(chunk)
sock.close()
"""

# One busy process, moving itself between the edge's cgroup and its parent (outside):
# both sides of the ratio then see the same host, whose speed drifts by +-20% from one
# second to the next on a shared VM. Outside, it has the priority the edge's group has
# by its weight, so that other load on the host slows neither side.
SPIN = """
import contextlib, json, os, sys, time
edge, outside, phase_s, pairs = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as fh:
    fh.write("-20")  # its own session's autogroup: start_new_session
os.nice(-20)

def spin(group):
    with open(os.path.join(group, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))
    n, t0, c0 = 0, time.monotonic(), time.process_time()
    while time.monotonic() < t0 + phase_s:
        for _ in range(1000):
            n += 1
    return n, time.monotonic() - t0, time.process_time() - c0

runs = {"outside": [0, 0.0, 0.0], "inside": [0, 0.0, 0.0]}
for _ in range(pairs):
    for side, group in (("outside", outside), ("inside", edge)):
        runs[side] = [a + b for a, b in zip(runs[side], spin(group))]
print(json.dumps(runs))
"""

PRODUCER = """
import json, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
bootstrap, topic = sys.argv[1], sys.argv[2]
brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
delivered = []
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
producer.produce(topic, b"from the edge", on_delivery=lambda err, msg: delivered.append(err))
producer.flush(15)
print(json.dumps({
    "brokers": sorted(f"{b.host}:{b.port}" for b in brokers.values()),
    "delivered": [str(e) if e else "ok" for e in delivered],
}))
"""


@dataclass
class Bed:
    testbed: tb.Testbed
    broker: LocalBroker
    xdg: Path  # XDG_STATE_HOME for the CLI in other processes
    config: tb.TestbedConfig

    def up(self) -> tb.TestbedState:
        """Up (a cheap reconfigure when it is up already): each test starts from 10mbit."""
        return self.testbed.up(self.config)


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if os.geteuid() != 0:
        pytest.fail(
            "the testbed tests need root (network namespaces, tc, cgroups): run them as "
            "root, as CI does"
        )
    xdg = tmp_path_factory.mktemp("xdg")
    broker = LocalBroker(tmp_path_factory.mktemp("tb-broker"), cache_dir())
    testbed = tb.Testbed(xdg / "edgesplit", broker)
    config = tb.TestbedConfig(edge_cpu=0.5, uplink="10mbit", name=NAME, subnet=SUBNET)
    try:
        yield Bed(testbed, broker, xdg, config)
    finally:
        try:
            testbed.down()
        finally:
            broker.stop()


def _run(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def transfer(
    bed: Bed, seconds: float, then: Callable[[], object] | None = None, at_s: float = 0.0
) -> list[tuple[float, int]]:
    """Push data from a TCP sender on the edge to the host side for `seconds`.

    Returns (seconds since the first byte, bytes so far) as the receiver saw them;
    `then` is called `at_s` seconds after the first byte, while the data flows.
    """
    state = bed.testbed.state()
    assert state is not None
    marks: list[tuple[float, int]] = []
    with socket.socket() as server:
        server.bind((state.host_ip, 0))
        server.listen(1)
        server.settimeout(20)
        port = server.getsockname()[1]
        cmd = [sys.executable, "-c", SENDER, state.host_ip, str(port), str(seconds)]
        sender = subprocess.Popen(bed.testbed.wrap(cmd))
        timer = threading.Timer(at_s, then) if then is not None else None
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(20)
                total = 0
                while chunk := conn.recv(1 << 16):
                    now = time.monotonic()
                    if not marks and timer is not None:
                        timer.start()
                    total += len(chunk)
                    marks.append((now, total))
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
            assert sender.wait(20) == 0
    start = marks[0][0]
    return [(t - start, n) for t, n in marks]


def rate_between(marks: list[tuple[float, int]], begin_s: float, end_s: float) -> float:
    """Payload bit/s received between two moments of a transfer.

    The least-squares slope of bytes over time, not the two end points: a receiver the
    host delays by 100 ms at either end (it does, on a 2-core VM under a test run) would
    move an end-point rate over 1.5 s by 7%; the slope of every mark barely moves.
    """
    window = [(t, n) for t, n in marks if begin_s <= t <= end_s]
    mean_t = sum(t for t, _ in window) / len(window)
    mean_n = sum(n for _, n in window) / len(window)
    covariance = sum((t - mean_t) * (n - mean_n) for t, n in window)
    variance = sum((t - mean_t) ** 2 for t, _ in window)
    return covariance / variance * 8


# tbf meters whole frames: a full TCP segment carries 1448 payload bytes (MSS with
# timestamps) in 1514 bytes on the wire, so the receiver sees 95.6% of the set rate.
PAYLOAD_SHARE = 1448 / 1514


def near(measured: float, rate: str, tolerance: float = 0.10) -> str | None:
    """None if `measured` is within `tolerance` of the payload `rate` carries, else why not."""
    target = parse_rate(rate) * PAYLOAD_SHARE
    share = f"{measured / target:.3f} of the payload the set rate carries"
    print(f"uplink {rate}: measured {format_rate(measured)} ({share})")
    return None if abs(measured / target - 1) <= tolerance else f"{rate}: {share}"


ATTEMPTS = 3  # that count: the hypervisor took less than CALM of the CPU meanwhile
CALM = 0.15
PATIENCE_S = 150.0


def assert_rates(
    attempt: Callable[[], list[str | None]], what: str = "the uplink missed its rate"
) -> None:
    """Run `attempt` (a transfer and its `near` checks, or another rate's) until all pass:
    3 calm attempts.

    When the hypervisor stops this VM's vCPUs (CPU steal, from /proc/stat), the link loses
    its rate (timers fire late, and tbf's tokens overflow its 10 ms bucket meanwhile, most
    likely): with 61-76% of the CPU stolen, a 10 Mbit/s uplink read 0.10-0.59 of its rate;
    in one CI run all three rate tests read 15-25% slow. So an attempt during which more
    than CALM of the CPU was stolen does not count, and another is made (for PATIENCE_S
    at most: then the host, not the testbed, is the failure, and the message says so). A
    shaping bug (no limit, the wrong unit, a queue too shallow for TCP) fails calm
    attempts alike.
    """
    failures: list[str] = []
    calm = 0
    deadline = time.monotonic() + PATIENCE_S
    while calm < ATTEMPTS and time.monotonic() < deadline:
        clock = CpuClock.now()
        missed = [why for why in attempt() if why is not None]
        stolen = steal_since(clock) or 0.0
        if not missed:
            return
        calm += stolen <= CALM
        failures.append(f"{'; '.join(missed)} (CPU steal {stolen:.0%})")
        print(f"attempt {len(failures)} missed: {failures[-1]}")
    host = "" if calm else f"the host stole more than {CALM:.0%} of the CPU throughout: "
    pytest.fail(f"{host}{what} in {len(failures)} attempts: {failures}")


def test_the_uplink_runs_at_the_set_rate(bed: Bed) -> None:
    """2.5 s of steady state: the first 0.7 s (the bucket's burst, slow start) left out."""
    state = bed.up()
    assert state.uplink_bps == 10_000_000
    assert_rates(lambda: [near(rate_between(transfer(bed, 3.5), 0.7, 3.2), "10mbit")])


def test_set_changes_the_rate_of_a_running_transfer(bed: Bed) -> None:
    """10mbit, then `set --uplink 20mbit` at 3.3 s while the same connection runs on."""
    changed: list[tb.TestbedState] = []

    def attempt() -> list[str | None]:
        bed.up()  # back to 10mbit
        marks = transfer(bed, 6.5, lambda: changed.append(bed.testbed.set(uplink="20mbit")), 3.3)
        return [
            near(rate_between(marks, 0.7, 3.2), "10mbit"),
            near(rate_between(marks, 4.0, 6.2), "20mbit"),
        ]

    assert_rates(attempt)
    state = changed[-1]
    assert (state.uplink, state.uplink_bps, state.edge_cpu) == ("20mbit", 20_000_000, 0.5)
    assert bed.testbed.state() == state  # recorded for other shells
    qdisc = shaping.counters(state.namespace, state.veth_edge)
    assert qdisc is not None
    assert qdisc["options"]["rate"] * 8 == 20_000_000  # tc reports bytes per second


def test_a_half_cpu_quota_halves_a_busy_loop(bed: Bed) -> None:
    """Iterations per wall second inside the cgroup vs outside: 6 x 0.5 s each, alternated.
    CPU steal lowers the share too (the quota is charged in CPU time, which leaves stolen
    time out; wall time does not): 0.464 with some stolen, in one CI run."""
    state = bed.up()
    group = Path(state.cgroup)
    cmd = [sys.executable, "-c", SPIN, str(group), str(group.parent), "0.5", "6"]

    def attempt() -> list[str | None]:
        done = subprocess.run(
            bed.testbed.wrap(cmd), capture_output=True, text=True, timeout=60, check=True,
            start_new_session=True,
        )  # fmt: skip
        runs = json.loads(done.stdout)
        (n_in, wall_in, cpu_in), (n_out, wall_out, _) = runs["inside"], runs["outside"]
        ratio, share = (n_in / wall_in) / (n_out / wall_out), cpu_in / wall_in
        print(f"busy loop under a 0.5 CPU quota: {ratio:.3f} of its speed outside")
        return [
            None if 0.425 <= ratio <= 0.575 else f"inside/outside {ratio:.3f}, not 0.5 +- 15%",
            None if abs(share - 0.5) <= 0.03 else f"CPU/wall {share:.3f}, not 0.5 +- 0.03",
        ]

    assert_rates(attempt, "the quota missed its share")


def test_set_changes_the_quota_live(bed: Bed) -> None:
    state = bed.up()
    changed = bed.testbed.set(edge_cpu=0.25)
    assert state.cpu_group.quota() == cgroups.Quota(period_us=10_000, quota_us=2_500)
    assert (changed.cpu_quota_us, changed.cpu_period_us, changed.uplink) == (2500, 10000, "10mbit")


def test_edge_clients_produce_through_the_edge_listener(bed: Bed) -> None:
    state = bed.up()
    running = bed.broker.running_state()
    assert running is not None
    assert running.listeners == {"EDGE": state.edge_bootstrap}
    assert state.edge_bootstrap.startswith(f"{state.host_ip}:")
    host = KafkaSettings(running.bootstrap)
    topic = f"edge-{uuid.uuid4().hex[:8]}"
    create_topics(host, [TopicSpec(topic)])
    before = shaping.counters(state.namespace, state.veth_edge)

    cmd = [sys.executable, "-c", PRODUCER, state.edge_bootstrap, topic]
    done = _run(bed.testbed.wrap(cmd), timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"brokers": [state.edge_bootstrap], "delivered": ["ok"]}

    after = shaping.counters(state.namespace, state.veth_edge)
    assert before is not None
    assert after is not None
    assert after["bytes"] > before["bytes"]  # the edge's Kafka traffic crossed the uplink

    consumer = Consumer({**host.librdkafka(), "group.id": topic, "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 15
        msg = None
        while msg is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
        assert msg is not None
        assert msg.error() is None
        assert msg.value() == b"from the edge"
    finally:
        consumer.close()


def test_the_edge_reaches_nothing_but_the_host_side(bed: Bed) -> None:
    state = bed.up()
    running = bed.broker.running_state()
    assert running is not None

    def on_edge(*cmd: str) -> subprocess.CompletedProcess[str]:
        return _run(bed.testbed.wrap(list(cmd)))

    routes = on_edge("ip", "-4", "route", "show").stdout
    assert "default" not in routes
    assert routes.strip().startswith(f"{state.link.subnet} dev")
    gone = on_edge("ip", "route", "get", "198.51.100.7")  # no route: not a single packet leaves
    assert gone.returncode != 0
    assert "unreachable" in gone.stderr
    # The broker's loopback listener is the host's loopback, not the edge's own.
    probe = f"import socket; socket.create_connection(('127.0.0.1', {running.port}), timeout=2)"
    assert on_edge(sys.executable, "-c", probe).returncode != 0


def test_status_from_another_shell_lists_edge_processes(bed: Bed) -> None:
    state = bed.up()
    sleeper = subprocess.Popen(bed.testbed.wrap(["sleep", "60"]))
    try:
        deadline = time.monotonic() + 10
        while sleeper.pid not in bed.testbed.edge_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sleeper.pid in bed.testbed.edge_pids()  # wrap keeps the pid: signals reach it
        env = {**os.environ, "XDG_STATE_HOME": str(bed.xdg)}
        args = ["status", "--json", "--home", str(bed.broker.home)]
        done = subprocess.run(
            [sys.executable, "-m", "edgesplit", "testbed", *args],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        assert status["up"] and status["checked"] and status["problems"] == []
        assert status["state"]["edge_bootstrap"] == state.edge_bootstrap
        assert status["state"]["uplink"] == "10mbit"
        assert [p["pid"] for p in status["processes"]] == [sleeper.pid]
        assert "sleep 60" in status["processes"][0]["command"]
    finally:
        sleeper.kill()
        sleeper.wait(10)


def _nothing_left(state: tb.TestbedState) -> None:
    assert state.namespace not in _run(["ip", "netns", "list"]).stdout
    assert state.veth_host not in _run(["ip", "-br", "link"]).stdout
    routes = _run(["ip", "-4", "route"]).stdout
    assert state.host_ip.rsplit(".", 1)[0] not in routes
    assert not Path(state.cgroup).exists()


def test_up_clears_what_a_crashed_run_left(bed: Bed) -> None:
    """A run that died: its namespace, pair, cgroup and an edge process still there."""
    state = bed.up()
    orphan = subprocess.Popen(bed.testbed.wrap(["sleep", "60"]))
    time.sleep(0.2)
    bed.testbed.state_file.unlink()  # as if its state were lost with it

    again = bed.up()
    assert orphan.wait(10) != 0  # stopped, not left running on a dead edge
    assert again.namespace == state.namespace
    assert bed.testbed.problems(again) == []
    # A namespace gone behind the testbed's back (a reboot, `ip netns del`) is rebuilt too.
    subprocess.run(["ip", "netns", "delete", state.namespace], check=True)
    assert bed.testbed.problems(again)
    rebuilt = bed.up()
    assert bed.testbed.problems(rebuilt) == []
    host, _, port = rebuilt.edge_bootstrap.rpartition(":")
    probe = f"import socket; socket.create_connection(('{host}', {port}), timeout=5)"
    reach = _run(bed.testbed.wrap([sys.executable, "-c", probe]))
    assert reach.returncode == 0, reach.stderr  # the EDGE listener answers on the new pair
    assert_rates(lambda: [near(rate_between(transfer(bed, 3.5), 0.7, 3.2), "10mbit")])


def test_down_leaves_nothing_behind_and_repeats(bed: Bed) -> None:
    state = bed.up()
    sleeper = subprocess.Popen(bed.testbed.wrap(["sleep", "60"]))
    time.sleep(0.2)
    bed.testbed.down()
    assert sleeper.wait(10) == -15  # SIGTERM first
    _nothing_left(state)
    assert bed.testbed.state() is None
    running = bed.broker.running_state()
    assert running is not None
    assert running.listeners == {}  # loopback only again
    assert f"EDGE://{state.edge_bootstrap}" not in bed.broker.server_properties.read_text()
    bed.testbed.down()
    _nothing_left(state)
