"""Cut timings pooled over the cuts: a cut's prefix and suffix together run the whole
model, so each segment is also that total less the other segment.

Prefix + suffix is about the same at every cut (the whole model, plus what splitting it
adds), and its median over the cuts is known far better than any one cut's timing:
MobileNetV2's 53 cuts on the host at batch 1 had prefix + suffix within 0.90-1.14 of the
whole model (10th-90th percentile), 1.04 at the median, and two profiles ten minutes
apart the same median to 1-5% at each pause and batch size (busy at batch 1 11.7 and
11.6 ms, after the long pause 13.5 and 13.7), where one cut's figures moved by 6-11% at
the median between them. Early in the graph a suffix is nearly all of it, and the total
less the prefix (a few tenths of a ms, timed to a few hundredths) is a better figure for
it than its own timing; late in the graph, the same for the prefix. `pooled` gives each
segment the precision-weighted mean of its own timing and of the total less the other
segment's, per batch size and pause (busy, after the short pause, after the long one), a
timing's noise taken as proportional to its time (a host's speed moves every run by a
share).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from edgesplit.orchestrator.profile import BUSY, IDLE, LONG, CutCost

TINY_MS = 1e-6  # a timing under a nanosecond is left as it is


def pooled(cuts: Sequence[CutCost]) -> list[CutCost]:
    """`cuts` with each prefix and suffix figure pooled with the median over the cuts of
    prefix + suffix less the other segment's figure (see the module), for each pause
    and batch size every cut has figures at."""
    out = list(cuts)
    if not out:
        return out
    update: list[dict[str, dict[int, float]]] = [{} for _ in out]
    for pre, suf in (BUSY, IDLE, LONG):
        sizes = set.intersection(*(set(getattr(c, pre)) & set(getattr(c, suf)) for c in out))
        for b in sizes:
            pairs = [(getattr(c, pre)[b], getattr(c, suf)[b]) for c in out]
            total = statistics.median(p + s for p, s in pairs)
            # the median of n sums: about pi / 2n of one sum's variance, one sum's at most
            # total squared (in units of a timing's share of noise, squared)
            spread = math.pi / (2 * len(pairs)) * total**2
            for (p, s), u, c in zip(pairs, update, out, strict=True):
                prefix = u.setdefault(pre, dict(getattr(c, pre)))
                suffix = u.setdefault(suf, dict(getattr(c, suf)))
                prefix[b] = _mean(p, total - s, p**2, s**2 + spread)
                suffix[b] = _mean(s, total - p, s**2, p**2 + spread)
    return [c.model_copy(update=u) for c, u in zip(out, update, strict=True)]


def _mean(own: float, other: float, own_var: float, other_var: float) -> float:
    """The precision-weighted mean of `own` and `other` (at least 0), or `own` where it is
    under TINY_MS or both variances are 0."""
    if own < TINY_MS or own_var + other_var <= 0:
        return own
    return (own * other_var + max(other, 0.0) * own_var) / (own_var + other_var)
