"""The demo: MobileNetV2 split into an edge and a cloud stage, real photos through Kafka.

Plan (cut after block 6, int8 activations), deploy both stages as processes, stream real
photo frames at a camera's pace, read the results, check every answer against the
unsplit model, stop and clean up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesplit.config import KafkaSettings, cache_dir, state_dir
from edgesplit.consumers.results import ResultsReport, ResultsSummary, read_results
from edgesplit.kafka.admin import delete_topics
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.plan import Plan
from edgesplit.producers.sources import Sample, photos
from edgesplit.producers.stream import StreamReport, frame_id, stream
from edgesplit.stages.executor import Executor

MODEL = "mobilenet_v2"
CUT = "/net/features/features.6/Add_output_0"  # end of the 28x28 blocks: 32x28x28 floats
ENCODING = "int8"


@dataclass(frozen=True)
class Prediction:
    source: str  # the photo the frame was cropped from
    frame_id: str
    top1: str
    score: float
    unsplit_top1: str


@dataclass(frozen=True)
class DemoReport:
    plan: Plan
    stream: StreamReport
    results: ResultsReport
    agree: int  # frames whose top-1 equals the unsplit model's
    predictions: tuple[Prediction, ...]


def run(
    settings: KafkaSettings,
    workdir: Path,
    *,
    frames: int = 300,
    rate_hz: float = 25.0,
    progress: Callable[[str], None] = lambda _: None,
) -> DemoReport:
    from edgesplit.models.classes import class_names  # noqa: PLC0415
    from edgesplit.models.export import ensure_onnx  # noqa: PLC0415 - torch, once
    from edgesplit.orchestrator.builder import build_plan  # noqa: PLC0415

    progress("exporting MobileNetV2 (real ImageNet weights) to ONNX (once, then cached)")
    onnx_path = ensure_onnx(MODEL, cache_dir())
    plan_path = workdir / "plan.yaml"
    plan = build_plan(
        model_name=MODEL,
        onnx_path=onnx_path,
        cut_specs=[CUT],
        out=plan_path,
        encodings=[ENCODING],
        pipeline=f"demo-{uuid.uuid4().hex[:6]}",
        classes="imagenet",
    )
    names = class_names("imagenet", cache_dir())
    progress(f"cropping {frames} frames from real photos")
    samples = list(photos(frames, seed=7, cache=cache_dir()))
    progress("deploying the edge and cloud stages")
    state = state_dir()
    deployment = dep.deploy(plan_path, settings, state)
    summary = ResultsSummary()
    try:
        progress(f"streaming {frames} frames at {rate_hz:g} frames/s")
        sent = stream(
            settings,
            plan.topics.frames,
            samples,
            rate_hz=rate_hz,
            max_message_bytes=plan.topics.frames_max_message_bytes,
        )
        progress("reading the results")
        results = read_results(
            settings, [plan.topics.results], count=frames, idle_timeout_s=60, summary=summary
        )
    finally:
        dep.stop_deployment(state, deployment.name)
        delete_topics(settings, plan.topic_names)
    progress("checking every answer against the unsplit model")
    unsplit = _unsplit_top1(onnx_path, plan, samples)
    agree = 0
    predictions: list[Prediction] = []
    for i, sample in enumerate(samples):
        answer = summary.answers.get(frame_id(sent.run_id, "sensor-0", i))
        if answer is None or answer.top1 is None:
            continue
        agree += answer.top1 == unsplit[i]
        if len(predictions) < 8 and i % max(1, frames // 8) == 0:
            predictions.append(
                Prediction(
                    sample.source,
                    answer.frame_id,
                    names[answer.top1],
                    answer.score or 0.0,
                    names[unsplit[i]],
                )
            )
    return DemoReport(plan, sent, results, agree, tuple(predictions))


def _unsplit_top1(onnx_path: Path, plan: Plan, samples: list[Sample]) -> list[int]:
    ex = Executor(onnx_path, [plan.model.input], [plan.model.output])
    out = ex.run_all({plan.model.input.name: np.stack([s.array for s in samples])}, 16)
    return [int(i) for i in out[plan.model.output.name].argmax(axis=1)]
