"""Build a plan from a model and chosen cuts: stage partitions, topics, limits.

The partitions are written next to the plan file (`<plan>.stages/stage-N.onnx`) and
referenced by digest, so a plan and its partitions travel together and a stale
partition is caught before it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgesplit.digest import sha256_file
from edgesplit.errors import ConfigError, PlanningError
from edgesplit.kafka.limits import message_limit
from edgesplit.orchestrator.graph import Cut, ModelGraph, StageGraph, TensorInfo
from edgesplit.orchestrator.plan import (
    BatchPolicy,
    CutPlan,
    Delivery,
    ModelRef,
    Plan,
    StagePlan,
    TensorSpec,
    Topics,
    save_plan,
    topic_name,
)

_RECORD_OVERHEAD = 4096  # ids, trace stamps, tensor names and headers around the tensor bytes


def default_tiers(stages: int) -> list[str]:
    """edge -> cloud for two stages; edge -> fog -> cloud for three; fog-1, fog-2 ... beyond."""
    if stages == 1:
        return ["cloud"]
    if stages == 2:
        return ["edge", "cloud"]
    if stages == 3:
        return ["edge", "fog", "cloud"]
    return ["edge", *(f"fog-{i}" for i in range(1, stages - 1)), "cloud"]


def spec(t: TensorInfo) -> TensorSpec:
    return TensorSpec(name=t.name, dtype=t.dtype, shape=tuple(t.shape))


def build_plan(
    *,
    model_name: str,
    onnx_path: Path,
    cut_specs: Sequence[str],
    out: Path,
    encodings: Sequence[str] = ("raw",),
    tiers: Sequence[str] | None = None,
    pipeline: str | None = None,
    version: int = 1,
    batch: BatchPolicy | None = None,
    threads: int = 1,
    partitions: int = 1,
    classes: str | None = None,
    predicted: dict[str, float] | None = None,
    delivery: Delivery = "at-least-once",
) -> Plan:
    """Cut `onnx_path` at `cut_specs`, write the stage partitions and the plan to `out`."""
    graph = ModelGraph.load(onnx_path)
    cuts: list[Cut] = [graph.cut(s) for s in cut_specs]
    stages = graph.split(cuts)
    if len(encodings) not in (1, len(cuts)) and cuts:
        raise PlanningError(f"give one encoding for all cuts or one per cut ({len(cuts)})")
    per_cut = list(encodings) * len(cuts) if len(encodings) == 1 else list(encodings)
    tiers = list(tiers) if tiers else default_tiers(len(stages))
    if len(tiers) != len(stages):
        raise PlanningError(f"{len(stages)} stages need {len(stages)} tiers, got {tiers}")
    name = pipeline or model_name.replace("_", "-")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise PlanningError("edgesplit runs models with one input (the frame) and one output")

    folder = out.parent / f"{out.stem}.stages"
    folder.mkdir(parents=True, exist_ok=True)
    topics = Topics(
        frames=topic_name(name, version, "frames"),
        results=topic_name(name, version, "results"),
        dead_letters=topic_name(name, version, "dead-letters"),
        metrics=topic_name(name, version, "metrics"),
        partitions=partitions,
        frames_max_message_bytes=message_limit(graph.inputs[0].bytes_per_frame + _RECORD_OVERHEAD),
        results_max_message_bytes=message_limit(
            graph.outputs[0].bytes_per_frame + _RECORD_OVERHEAD
        ),
    )
    cut_plans = [
        CutPlan(
            index=cut.index,
            tensors=tuple(spec(t) for t in cut.tensors),
            encoding=enc,
            topic=topic_name(name, version, f"cut-{i}"),
            # lz4/zstd can grow incompressible data by a fraction of a percent
            max_message_bytes=message_limit(int(cut.bytes_per_frame * 1.01) + _RECORD_OVERHEAD),
        )
        for i, (cut, enc) in enumerate(zip(cuts, per_cut, strict=True))
    ]
    stage_plans = [
        _stage_plan(stage, tier, folder, out, topics, cut_plans, batch or BatchPolicy(), threads)
        for stage, tier in zip(stages, tiers, strict=True)
    ]
    plan = Plan(
        pipeline=name,
        version=version,
        model=ModelRef(
            name=model_name,
            onnx_sha256=sha256_file(onnx_path),
            input=spec(graph.inputs[0]),
            output=spec(graph.outputs[0]),
            classes=classes,
        ),
        topics=topics,
        cuts=tuple(cut_plans),
        stages=tuple(stage_plans),
        predicted=predicted,
        delivery=delivery,
    )
    save_plan(plan, out)
    return plan


def _stage_plan(
    stage: StageGraph,
    tier: str,
    folder: Path,
    plan_file: Path,
    topics: Topics,
    cuts: Sequence[CutPlan],
    batch: BatchPolicy,
    threads: int,
) -> StagePlan:
    path = folder / f"stage-{stage.index}.onnx"
    try:
        path.write_bytes(stage.onnx_bytes)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
    last = stage.index == len(cuts)
    return StagePlan(
        index=stage.index,
        tier=tier,
        onnx=str(path.relative_to(plan_file.parent)),
        onnx_sha256=sha256_file(path),
        input_topic=topics.frames if stage.index == 0 else cuts[stage.index - 1].topic,
        output_topic=topics.results if last else cuts[stage.index].topic,
        inputs=tuple(spec(t) for t in stage.inputs),
        outputs=tuple(spec(t) for t in stage.outputs),
        passthrough=tuple(spec(t) for t in stage.passthrough),
        batch=batch,
        threads=threads,
    )
