"""The testbed's pure parts: rates, token buckets, CPU quotas, cgroup detection, errors."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from edgesplit.bench import cgroups, netns, privileges, shaping
from edgesplit.bench import testbed as tb
from edgesplit.bench.rates import format_rate, parse_rate, parse_size
from edgesplit.broker import LocalBroker
from edgesplit.cli import main as cli_main
from edgesplit.config import cache_dir
from edgesplit.errors import ConfigError, EdgesplitError, PrivilegeError, ToolMissingError


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("10mbit", 10_000_000),
        ("5Mbit", 5_000_000),
        ("100kbit", 100_000),
        ("1gbit", 1_000_000_000),
        ("2.5mbit", 2_500_000),
        ("64kibit", 65_536),
        ("9600", 9600),
        (" 20 mbit ", 20_000_000),
    ],
)
def test_parse_rate(text: str, bps: int) -> None:
    assert parse_rate(text) == bps


@pytest.mark.parametrize("text", ["", "fast", "mbit", "10 mbits", "-5mbit", "1e6", "10mbit/s"])
def test_nonsense_rates_are_clear_errors(text: str) -> None:
    with pytest.raises(ConfigError, match=r"bad rate .*e\.g\. 10mbit"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0mbit", "4"])  # a bare number is bit/s, as tc reads it
def test_rates_below_a_byte_per_second_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="too low"):
        parse_rate(text)


def test_bytes_per_second_is_refused_with_the_bit_spelling() -> None:
    with pytest.raises(ConfigError, match=r"bytes per second to tc; write 80mbit .* or 10mbit"):
        parse_rate("10mbps")


def test_parse_size() -> None:
    assert parse_size("32kb") == 32 * 1024
    assert parse_size("1500b") == 1500
    assert parse_size("1mb") == 1 << 20
    assert parse_size("20000") == 20000
    with pytest.raises(ConfigError, match="bad size"):
        parse_size("32kbit")


def test_format_rate() -> None:
    assert format_rate(10_000_000) == "10 Mbit/s"
    assert format_rate(9_600) == "9.6 kbit/s"


def test_default_burst_covers_a_timer_tick_and_some_frames() -> None:
    slow = shaping.shaping_for("1mbit")
    assert slow.burst_bytes == 16 * 1024  # ten full frames beat 10 ms of a slow link
    fast = shaping.shaping_for("1gbit")
    assert fast.burst_bytes == 1_250_000  # 10 ms at 1 Gbit/s = rate / HZ at HZ=100
    for s in (slow, fast):
        assert s.queue_bytes == s.burst_bytes + s.rate_bps // 8 // 20  # + 50 ms at the rate


def test_explicit_burst_must_hold_a_frame() -> None:
    assert shaping.shaping_for("10mbit", "64kb").burst_bytes == 65536
    with pytest.raises(ConfigError, match="smaller than one full-size frame"):
        shaping.shaping_for("10mbit", "1kb")


def test_quota_uses_a_short_period_and_at_least_a_millisecond() -> None:
    half = cgroups.quota_for(0.5)
    assert (half.quota_us, half.period_us) == (5_000, 10_000)
    tiny = cgroups.quota_for(0.02)
    assert tiny.quota_us == 1_000
    assert tiny.cpus == pytest.approx(0.02)
    with pytest.raises(ConfigError, match="out of range"):
        cgroups.quota_for(0)


MOUNTS_V1 = """\
30 25 0:26 / /sys/fs/cgroup/unified rw,relatime shared:8 - cgroup2 cgroup2 rw
31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
32 25 0:28 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
"""


def test_detect_v1_when_the_unified_hierarchy_has_no_cpu(tmp_path: Path) -> None:
    assert cgroups.detect(MOUNTS_V1) == cgroups.CpuController(1, Path("/sys/fs/cgroup/cpu"))


def test_detect_v2_when_it_has_the_cpu_controller(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mounts = f"30 25 0:26 / {tmp_path} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n" + MOUNTS_V1
    assert cgroups.detect(mounts) == cgroups.CpuController(2, tmp_path)


def test_detect_none_is_a_clear_error() -> None:
    with pytest.raises(EdgesplitError, match="no cgroup hierarchy with the cpu controller"):
        cgroups.detect("22 1 0:21 / /proc rw - proc proc rw\n")


def test_v2_group_writes_cpu_max_and_weight(tmp_path: Path) -> None:
    """The v2 interface, on a stand-in directory (this machine's cpu controller is v1)."""
    (tmp_path / "cgroup.subtree_control").write_text("")
    group = cgroups.CpuCgroup.under(cgroups.CpuController(2, tmp_path), "e")
    group.create()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (tmp_path / "e" / "cpu.weight").read_text() == "1000"
    group.set_quota(cgroups.quota_for(0.25))
    assert (tmp_path / "e" / "cpu.max").read_text() == "2500 10000"
    assert group.quota() == cgroups.Quota(10_000, 2_500)


def test_names_and_addresses() -> None:
    link = tb.edge_link("edgesplit", "10.213.37.0/30")
    assert link == netns.EdgeLink(
        "edgesplit-edge", "edgesplit-h", "edgesplit-e", "10.213.37.1", "10.213.37.2", 30
    )
    with pytest.raises(ConfigError, match="bad testbed name"):
        tb.edge_link("a-name-far-too-long", "10.213.37.0/30")
    with pytest.raises(ConfigError, match="private IPv4 network"):
        tb.edge_link("edgesplit", "8.8.8.0/30")
    with pytest.raises(ConfigError, match="a /30 or larger"):
        tb.edge_link("edgesplit", "10.213.37.0/31")


def _testbed(tmp_path: Path) -> tb.Testbed:
    return tb.Testbed(tmp_path / "state", LocalBroker(tmp_path / "broker", cache_dir()))


def test_without_root_every_change_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    testbed = _testbed(tmp_path)
    with pytest.raises(PrivilegeError, match=r"`edgesplit testbed up` needs root .* sudo"):
        testbed.up(tb.TestbedConfig())
    with pytest.raises(PrivilegeError, match="`edgesplit testbed down` needs root"):
        testbed.down()
    with pytest.raises(PrivilegeError, match="`edgesplit testbed set` needs root"):
        testbed.set(uplink="5mbit")
    assert testbed.state() is None  # nothing was attempted


def test_without_iproute2_the_error_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privileges, "is_root", lambda: True)
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(ToolMissingError, match=r"`ip` not found on PATH.*apt install iproute2`"):
        _testbed(tmp_path).up(tb.TestbedConfig())


@pytest.fixture
def quiet_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI in this process, leaving the session's logging alone (it would bind capsys)."""
    monkeypatch.setattr(cli_main, "configure", lambda *_a, **_k: None)


@pytest.mark.usefixtures("quiet_cli")
def test_the_cli_prints_one_line_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["edgesplit", "testbed", "up", "--uplink", "5mbit"])
    with pytest.raises(SystemExit) as exited:
        cli_main.run()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: `edgesplit testbed up` needs root")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.usefixtures("quiet_cli")
def test_the_cli_refuses_a_bad_rate_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(privileges, "is_root", lambda: True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["edgesplit", "testbed", "up", "--uplink", "fast"])
    with pytest.raises(SystemExit):
        cli_main.run()
    assert "error: bad rate 'fast'" in capsys.readouterr().err
    assert not (tmp_path / "edgesplit" / "testbed.json").exists()
