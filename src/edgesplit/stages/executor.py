"""A stage's partition of the model, run by ONNX Runtime.

The input and output specs are fixed up front from the plan, so a record with the wrong
shape or dtype is rejected before it reaches the session (a clear error, not a hang or a
crash inside the runtime).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgesplit.errors import StageError
from edgesplit.orchestrator.plan import TensorSpec

Array = np.ndarray[Any, Any]


def session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    return opts


def providers() -> list[str]:
    """CUDA where this build of ONNX Runtime has it (a cloud tier), else the CPU."""
    available = ort.get_available_providers()
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


class Executor:
    """Runs batches through one ONNX partition."""

    def __init__(
        self,
        model: Path | bytes,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        *,
        threads: int = 1,
    ) -> None:
        self.threads = threads
        try:
            self.session = ort.InferenceSession(
                str(model) if isinstance(model, Path) else model,
                sess_options=session_options(threads),
                providers=providers(),
            )
        except Exception as exc:  # ORT raises its own untyped errors
            raise StageError(f"ONNX Runtime cannot load the stage model: {exc}") from exc
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        names = {i.name for i in self.session.get_inputs()}
        if names != {t.name for t in self.inputs}:
            raise StageError(
                f"the stage model takes {sorted(names)}, the plan says "
                f"{sorted(t.name for t in self.inputs)}"
            )
        self._output_names = [t.name for t in self.outputs]
        self._expected = {t.name: (np.dtype(t.dtype), tuple(t.shape)) for t in self.inputs}

    def check(self, name: str, array: Array) -> str | None:
        """Why one frame's tensor cannot be fed to this stage, or None if it can."""
        expected = self._expected.get(name)
        if expected is None:
            return f"unexpected tensor {name!r}"
        dtype, shape = expected
        if array.dtype != dtype:
            return f"tensor {name!r} has dtype {array.dtype}, the stage expects {dtype}"
        if array.shape != shape:
            return f"tensor {name!r} has shape {list(array.shape)}, the stage expects {list(shape)}"
        return None

    def run(self, batch: Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch (leading axis = frames); returns the outputs by name."""
        try:
            results = self.session.run(self._output_names, dict(batch))
        except Exception as exc:
            raise StageError(f"ONNX Runtime failed on a batch: {exc}") from exc
        return dict(zip(self._output_names, results, strict=True))

    def run_all(self, feeds: Mapping[str, Array], batch: int = 32) -> dict[str, Array]:
        """Run many frames through in batches of `batch`; outputs concatenated by name."""
        n = len(next(iter(feeds.values())))
        parts: dict[str, list[Array]] = {}
        for lo in range(0, n, batch):
            out = self.run({k: v[lo : lo + batch] for k, v in feeds.items()})
            for k, v in out.items():
                parts.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def warm_up(self, batch_size: int = 1) -> None:
        """One run on zeros, so the first real batch does not pay for lazy initialisation."""
        self.run({t.name: np.zeros((batch_size, *t.shape), t.dtype) for t in self.inputs})
