"""Cut timings made consistent with the graph: a later cut's prefix holds every node of an
earlier cut's prefix, so it cannot run faster; its suffix holds fewer nodes, so it cannot
run slower.

Timings on a shared machine are noisy (a neighbour's load moves a run by 10-30%), and the
noise breaks that order between neighbouring cuts. The least-squares monotone fit
(pool-adjacent-violators) of the prefix times, and of the suffix times, over the cuts in
graph order removes exactly the part of the noise that contradicts the graph, and pools
each run of contradicting cuts into their mean: figures that predict a stage better than
any one timing. The whole model is the last prefix and the first suffix (`monotone_profile`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgesplit.orchestrator.profile import BUSY, IDLE, LONG, CutCost


def fit(values: Sequence[float], *, increasing: bool = True) -> list[float]:
    """The non-decreasing (or non-increasing) sequence closest to `values` in squares."""
    sign = 1.0 if increasing else -1.0
    blocks: list[tuple[float, int]] = []  # (sum, count), block means non-decreasing
    for v in values:
        total, count = sign * v, 1
        while blocks and blocks[-1][0] / blocks[-1][1] > total / count:
            s, n = blocks.pop()
            total, count = total + s, count + n
        blocks.append((total, count))
    return [sign * s / n for s, n in blocks for _ in range(n)]


def monotone_profile(
    cuts: Sequence[CutCost], whole_ms: Mapping[int, float]
) -> tuple[list[CutCost], dict[int, float]]:
    """`cuts` (single-tensor cuts, nested prefixes) with prefix times non-decreasing and
    suffix times non-increasing in cut order, per batch size, and the whole model's
    `whole_ms` in the fit: it holds every prefix's nodes and every suffix's, so it is the
    last prefix and the first suffix, and it keeps the higher of its two fitted figures
    (a batch size it has no figure at is fitted over the cuts alone). A whole model
    timed faster than one of its own prefixes had made edge-only look 2.5% faster than
    ResNet-18's cut 51, where it ran 7% slower (its prefix 82.9 ms a frame, the whole
    model 80.6). The timings after a pause, short or long, are fitted the same way, over
    the cuts alone (the whole model has none)."""
    ordered = sorted(cuts, key=lambda c: c.index)
    whole = dict(whole_ms)
    update: list[dict[str, dict[int, float]]] = [{} for _ in ordered]
    for pre, suf, last in (  # last: the whole model's figures, fitted in place
        (*BUSY, whole),
        (*IDLE, {}),
        (*LONG, {}),
    ):
        sizes = (
            set.intersection(*(set(getattr(c, pre)) & set(getattr(c, suf)) for c in ordered))
            if ordered
            else set()
        )
        for b in sizes:
            tail = [last[b]] if b in last else []
            prefix = fit([getattr(c, pre)[b] for c in ordered] + tail)
            suffix = fit(tail + [getattr(c, suf)[b] for c in ordered], increasing=False)
            if tail:
                last[b] = max(prefix.pop(), suffix.pop(0))
            for i, c in enumerate(ordered):
                update[i].setdefault(pre, dict(getattr(c, pre)))[b] = prefix[i]
                update[i].setdefault(suf, dict(getattr(c, suf)))[b] = suffix[i]
    return [c.model_copy(update=u) for c, u in zip(ordered, update, strict=True)], whole
