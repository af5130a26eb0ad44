"""Real frames for a plan's model: photos for image models, MNIST digits for the digit model."""

from __future__ import annotations

from edgesplit.config import cache_dir
from edgesplit.orchestrator.plan import Plan
from edgesplit.producers.sources import Sample, mnist, photos


def real_frames(plan: Plan, count: int, *, seed: int = 1) -> list[Sample]:
    """`count` real frames shaped for the plan's model, the same for the same seed."""
    shape = plan.model.input.shape
    if len(shape) == 2:
        return list(mnist(count, cache=cache_dir(), seed=seed))
    return list(photos(count, size=shape[0], seed=seed, cache=cache_dir()))
