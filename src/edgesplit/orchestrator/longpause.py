"""Figures after the long pause for the cuts the profiler did not time after it.

Timing every prefix and suffix after a 2 s pause doubled a ResNet-50 profile's time (41
cuts x 3 passes x 2 batch sizes x 2 segments x 2 s of sleeping). What the pause adds to
a run, its figure after the long pause less the one after the short pause (the penalty),
moves slowly along the cuts, unlike the figures themselves: ResNet-50's edge prefixes at
batch 1 gain 5-15 ms over the first half of the cuts, 10-37 over the second, while
they grow from 0.2 to 127 ms. So the profiler times the long pause on every few cuts
(`sampled`), and each cut between two timed ones gets its own figure after the short
pause plus the penalty interpolated linearly between them (`fill`). ResNet-50's 41-cut
validation, predicted again from every 4th cut's penalty: cloud stages of 1 ms or more
within 15% 106/111, against 105/111 from every cut's; the edge's unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgesplit.orchestrator.profile import IDLE, LONG, CutCost


def sampled(count: int, every: int) -> set[int]:
    """Positions (in cut order) of the cuts timed after the long pause: every `every`-th
    from the first, and the last."""
    return set(range(0, count, every)) | ({count - 1} if count else set())


def fill(cuts: Sequence[CutCost]) -> list[CutCost]:
    """`cuts` in cut order, each without figures after the long pause given its figure
    after the short pause plus the penalty (long less short, at least 0) interpolated
    linearly over the cut order between the nearest cuts before and after it that have
    them, per batch size (the nearest one alone at either end). Unchanged where no cut
    has them."""
    ordered = sorted(cuts, key=lambda c: c.index)
    timed = [i for i, c in enumerate(ordered) if c.prefix_long_ms]
    if not timed:
        return ordered

    def penalty(i: int, short: str, long: str, b: int) -> float:
        before: dict[int, float] = getattr(ordered[i], short)
        after: dict[int, float] = getattr(ordered[i], long)
        return max(after[b] - before[b], 0.0)

    out = []
    for i, c in enumerate(ordered):
        if c.prefix_long_ms:
            out.append(c)
            continue
        lo = max((j for j in timed if j < i), default=timed[0])
        hi = min((j for j in timed if j > i), default=timed[-1])
        w = 0.0 if hi == lo else (i - lo) / (hi - lo)
        update = {}
        for short, long in zip(IDLE, LONG, strict=True):
            update[long] = {
                b: ms + (1 - w) * penalty(lo, short, long, b) + w * penalty(hi, short, long, b)
                for b, ms in getattr(c, short).items()
            }
        out.append(c.model_copy(update=update))
    return out
