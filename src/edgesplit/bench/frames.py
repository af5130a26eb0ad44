"""Real frames for a plan's model: photos for image models, MNIST digits for the digit model."""

from __future__ import annotations

from edgesplit.config import cache_dir
from edgesplit.orchestrator.inputs import model_samples
from edgesplit.orchestrator.plan import Plan
from edgesplit.producers.sources import Sample


def real_frames(plan: Plan, count: int, *, seed: int = 1) -> list[Sample]:
    """`count` real frames shaped for the plan's model, the same for the same seed."""
    spec = plan.model.input
    return model_samples(spec.shape, spec.dtype, count, cache=cache_dir(), seed=seed)
