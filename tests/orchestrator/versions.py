"""Versions of one MNIST pipeline, as the control-plane tests publish them."""

from __future__ import annotations

import uuid
from pathlib import Path

from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.plan import BatchPolicy, Plan
from tests.support import zoo_onnx

MNIST_CUT = "/net/conv_layers/conv_layers.5/MaxPool_output_0"  # 64x7x7 floats
MNIST_CUT_EARLY = "3"  # after the first conv block


def pipeline_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def mnist_version(
    folder: Path,
    pipeline: str,
    version: int,
    *,
    cut: str = MNIST_CUT,
    partitions: int = 2,
) -> tuple[Plan, Path]:
    """A two-stage (edge, cloud) MNIST plan: version `version` of `pipeline`."""
    path = folder / f"{pipeline}-v{version}.yaml"
    plan = build_plan(
        model_name="mnist_cnn",
        onnx_path=zoo_onnx("mnist_cnn"),
        cut_specs=[cut],
        out=path,
        pipeline=pipeline,
        version=version,
        batch=BatchPolicy(max_size=8, max_wait_ms=5),
        partitions=partitions,
    )
    return plan, path
