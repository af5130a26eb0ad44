"""Helpers for tests that run real pipelines: plans from zoo models, deployments, frames."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.consumers.lag import GroupLag, measure_lag
from edgesplit.consumers.results import ResultsReport, ResultsSummary, read_results
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.plan import BatchPolicy, Delivery, Plan
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
    delivery: Delivery = "at-least-once",
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
        delivery=delivery,
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


@dataclass(frozen=True)
class Restart:
    """What `stop_and_restart` saw."""

    answered_before: int  # answers read when the stage went down
    exit_code: int  # the stopped stage's
    log: Path  # the stopped stage's log
    summary: ResultsSummary  # every answer read while it ran
    lags: list[GroupLag]  # every stage group's, once all answers were in


def stop_and_restart(
    plan: Plan,
    plan_path: Path,
    kafka: KafkaSettings,
    state: Path,
    samples: Sequence[Sample],
    *,
    victim: int,
    sig: signal.Signals,
    after: int = 300,
    rate_hz: float = 300,
) -> Restart:
    """Deploy, stream `samples` at `rate_hz`, send `sig` to stage `victim` once `after`
    answers are in, start it again a second later (frames keep arriving meanwhile), read
    the answers until every frame has one (or 180 s), measure lag, stop."""
    summary = ResultsSummary()
    reader = threading.Thread(
        target=read_results,
        args=(kafka, [plan.topics.results]),
        kwargs={"summary": summary, "count": len(samples), "timeout_s": 180},
    )
    with deployed(plan_path, kafka, state) as d:
        reader.start()
        producer = threading.Thread(
            target=stream, args=(kafka, plan.topics.frames, samples), kwargs={"rate_hz": rate_hz}
        )
        producer.start()
        while len(summary.answers) < after:
            time.sleep(0.05)
        proc = next(p for p in d.processes if p.stage == victim)
        os.kill(proc.pid, sig)
        exit_code = dep._children[proc.pid].wait(timeout=30)
        answered = len(summary.answers)
        time.sleep(1.0)
        log = Path(proc.log)
        again = dep.spawn_stage(plan_path, victim, kafka, log.with_name(f"restart-{victim}.log"))
        producer.join()
        reader.join(timeout=180)
        lags = measure_lag(kafka, [plan.group_id(s.index) for s in plan.stages])
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    return Restart(answered, exit_code, log, summary, lags)


def unsplit_logits(model: str, plan: Plan, frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    ex = Executor(zoo_onnx(model), [plan.model.input], [plan.model.output])
    return ex.run_all({plan.model.input.name: frames})[plan.model.output.name]
