"""Helpers for tests that run real pipelines: plans from zoo models, deployments, frames."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.consumers.results import ResultsReport, ResultsSummary, read_results
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.plan import BatchPolicy, Plan
from edgesplit.producers.sources import Sample
from edgesplit.producers.stream import StreamReport, stream
from edgesplit.stages.executor import Executor


def zoo_onnx(name: str) -> Path:
    from edgesplit.models.export import ensure_onnx  # noqa: PLC0415

    return ensure_onnx(name, cache_dir())


def make_plan(
    folder: Path,
    model: str,
    cuts: Sequence[str | int],
    *,
    encoding: str = "raw",
    batch: int = 8,
    partitions: int = 1,
) -> tuple[Plan, Path]:
    path = folder / f"plan-{uuid.uuid4().hex[:6]}.yaml"
    plan = build_plan(
        model_name=model,
        onnx_path=zoo_onnx(model),
        cut_specs=[str(c) for c in cuts],
        out=path,
        encodings=[encoding],
        pipeline=f"t-{uuid.uuid4().hex[:8]}",
        batch=BatchPolicy(max_size=batch, max_wait_ms=5),
        partitions=partitions,
    )
    return plan, path


@contextmanager
def deployed(plan_path: Path, kafka: KafkaSettings, state: Path) -> Iterator[dep.Deployment]:
    d = dep.deploy(plan_path, kafka, state, wait_s=90)
    try:
        yield d
    finally:
        dep.stop_deployment(state, d.name)


def run_frames(
    plan: Plan,
    plan_path: Path,
    kafka: KafkaSettings,
    state: Path,
    samples: Sequence[Sample],
    *,
    rate_hz: float | None = None,
) -> tuple[StreamReport, ResultsReport, ResultsSummary]:
    """Deploy, stream the samples, read every result, stop."""
    summary = ResultsSummary()
    with deployed(plan_path, kafka, state):
        sent = stream(
            kafka,
            plan.topics.frames,
            samples,
            rate_hz=rate_hz,
            max_message_bytes=plan.topics.frames_max_message_bytes,
        )
        report = read_results(
            kafka, [plan.topics.results], count=len(samples), idle_timeout_s=60, summary=summary
        )
    return sent, report, summary


def unsplit_logits(model: str, plan: Plan, frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    ex = Executor(zoo_onnx(model), [plan.model.input], [plan.model.output])
    return ex.run_all({plan.model.input.name: frames})[plan.model.output.name]
