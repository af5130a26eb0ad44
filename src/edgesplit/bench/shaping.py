"""The uplink: a token-bucket filter (tbf) on the edge end of the veth pair.

Only the edge's egress is shaped, so the edge -> broker direction runs at the uplink
rate and the downlink stays unshaped. tbf counts whole Ethernet frames (headers
included), so TCP payload tops out near 96% of the rate at a 1500-byte MTU.

The defaults, and why:

- burst (the bucket): 10 ms of tokens, at least 16 KiB. 10 ms of tokens is rate/HZ for
  a kernel ticking at 100 Hz (the slowest timer tbf may meet), so the bucket never runs
  dry between two timer wake-ups, and 16 KiB is about ten full-size frames, so a
  segmented TSO burst passes whole. Bigger buckets only make the first moments of a
  transfer faster than the rate.
- queue (tbf's limit): the burst plus 50 ms at the rate. Like a modem's buffer: deep
  enough that TCP keeps the link busy (measured 96-100% of the rate from 2 to 20 mbit),
  shallow enough that a stalled uplink shows up as latency of tens of ms, not seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgesplit.bench.hostcmd import run, run_json
from edgesplit.bench.rates import format_rate, format_size, parse_rate, parse_size
from edgesplit.errors import ConfigError
from edgesplit.log import get_logger

log = get_logger("testbed.shaping")

FRAME_BYTES = 1514  # a full-size Ethernet frame on the 1500-byte MTU veth
MIN_BURST_BYTES = 16 * 1024
BURST_SECONDS = 0.010
QUEUE_SECONDS = 0.050


@dataclass(frozen=True)
class Shaping:
    """A token bucket: rate in bit/s, bucket and queue in bytes."""

    rate_bps: int
    burst_bytes: int
    queue_bytes: int

    def describe(self) -> str:
        return (
            f"{format_rate(self.rate_bps)} (burst {format_size(self.burst_bytes)}, "
            f"queue {format_size(self.queue_bytes)} = "
            f"{1000 * self.queue_bytes * 8 / self.rate_bps:.0f} ms at the rate)"
        )


def shaping_for(rate: str, burst: str | None = None) -> Shaping:
    """The tbf for an uplink written like '10mbit', with an explicit or a default burst."""
    rate_bps = parse_rate(rate)
    if burst is None:
        burst_bytes = max(MIN_BURST_BYTES, round(rate_bps / 8 * BURST_SECONDS))
    else:
        burst_bytes = parse_size(burst)
        if burst_bytes < FRAME_BYTES:
            raise ConfigError(
                f"uplink burst {burst} is smaller than one full-size frame ({FRAME_BYTES} B): "
                "every such frame would be dropped; give at least 2kb (16kb or more is usual)"
            )
    queue_bytes = burst_bytes + round(rate_bps / 8 * QUEUE_SECONDS)
    return Shaping(rate_bps, burst_bytes, queue_bytes)


def apply(namespace: str, device: str, shaping: Shaping) -> None:
    """Install or change (live) the tbf on `device` inside `namespace`."""
    run(
        "tc", "-n", namespace, "qdisc", "replace", "dev", device, "root", "tbf",
        "rate", f"{shaping.rate_bps}bit",
        "burst", str(shaping.burst_bytes),
        "limit", str(shaping.queue_bytes),
    )  # fmt: skip
    log.info(
        "uplink_shaped",
        namespace=namespace,
        device=device,
        rate_bps=shaping.rate_bps,
        burst_bytes=shaping.burst_bytes,
        queue_bytes=shaping.queue_bytes,
    )


def counters(namespace: str, device: str) -> dict[str, Any] | None:
    """The tbf's live figures (rate, bytes and packets sent, drops), or None if absent."""
    for qdisc in run_json("tc", "-n", namespace, "-s", "qdisc", "show", "dev", device):
        if qdisc.get("kind") == "tbf":
            found: dict[str, Any] = qdisc
            return found
    return None
