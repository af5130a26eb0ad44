"""Synthetic tier profiles for planner and rebalancer tests: a chain model with known costs."""

from __future__ import annotations

from edgesplit.orchestrator.costmodel import Environment
from edgesplit.orchestrator.profile import CodecCost, CutCost, Pauses, TierProfile


def profile(
    tier: str,
    unit_ms: list[float],
    sizes: list[int],
    speed: float = 1.0,
    agreement: float = 1.0,
    memory: int = 1000,
) -> TierProfile:
    """A chain model: node i costs unit_ms[i] / speed; cut after node k carries sizes[k]."""
    total = sum(unit_ms) / speed
    cuts = []
    for k in range(1, len(unit_ms)):
        pre = sum(unit_ms[:k]) / speed
        cuts.append(
            CutCost(
                index=k,
                tensor=f"t{k}",
                bytes_per_frame=sizes[k - 1],
                prefix_ms={1: pre, 4: 3.5 * pre},
                suffix_ms={1: total - pre, 4: 3.5 * (total - pre)},
                prefix_memory=memory * k,
                suffix_memory=memory * (len(unit_ms) - k),
                agreement={"int8": agreement, "fp16": 1.0},
            )
        )
    return TierProfile(
        model="m",
        onnx_sha256="x",
        tier=tier,
        host="h",
        cpus=1,
        threads=1,
        batch_sizes=(1, 4),
        frame_bytes=150_000,
        whole_ms={1: total, 4: 3.5 * total},
        cuts=tuple(cuts),
        codec={"raw": CodecCost(encode_ns_per_byte=0.1, decode_ns_per_byte=0.1)},
        measured_at=0,
    )


def with_idle(p: TierProfile, extra_ms: float, long_ms: float | None = None) -> TierProfile:
    """`p` with every prefix and suffix timed after idle at `extra_ms` more per run, and
    with `long_ms`, after a long pause (1 s) at that much more per run."""

    def more(t: dict[int, float], extra: float) -> dict[int, float]:
        return {b: ms + extra for b, ms in t.items()}

    def timed(c: CutCost) -> CutCost:
        update = {"prefix_idle_ms": more(c.prefix_ms, extra_ms)}
        update["suffix_idle_ms"] = more(c.suffix_ms, extra_ms)
        if long_ms is not None:
            update["prefix_long_ms"] = more(c.prefix_ms, long_ms)
            update["suffix_long_ms"] = more(c.suffix_ms, long_ms)
        return c.model_copy(update=update)

    pauses = Pauses(long_s=1.0 if long_ms is not None else 0.0)
    return p.model_copy(update={"cuts": tuple(timed(c) for c in p.cuts), "pauses": pauses})


def env_of(
    unit: list[float], sizes: list[int], edge_speed: float, uplink: float, agreement: float = 1.0
) -> Environment:
    return Environment(
        profiles={
            "edge": profile("edge", unit, sizes, edge_speed, agreement),
            "cloud": profile("cloud", unit, sizes, 4.0, agreement),
        },
        uplink_bps={"edge": uplink},
        chain=("edge", "cloud"),
        batch=4,
    )
