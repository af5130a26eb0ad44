"""The plan: an immutable, versioned description of a split pipeline.

A plan names the model, the cuts (tensors and wire encoding), every stage (its tier, its
ONNX partition with digest, its topics, batching and threads) and the topics. Stages
execute a plan; they never decide one. Plans are YAML files (with the stage partitions
next to them) and records on the compacted plans topic (`control.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from edgesplit.digest import sha256_file
from edgesplit.errors import ConfigError, EncodeError
from edgesplit.schemas.encoding import TensorEncoding

FORMAT: Literal[1] = 1
TOPIC_PREFIX = "edgesplit"
# at-least-once: a frame may be answered twice after a crash, never lost; exactly-once: a
# stage commits its outputs and input offsets together, in Kafka transactions
# (stages/transactions)
Delivery = Literal["at-least-once", "exactly-once"]


def _canonical_encoding(value: str) -> str:
    try:
        return str(TensorEncoding.parse(value))
    except EncodeError as exc:
        raise ValueError(str(exc)) from None


EncodingName = Annotated[str, AfterValidator(_canonical_encoding)]  # raw, int8+zstd, ...


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorSpec(_Frozen):
    """A tensor per frame: the batch axis is not part of the shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def bytes_per_frame(self) -> int:
        n = int(np.dtype(self.dtype).itemsize)
        for d in self.shape:
            n *= d
        return n


class ModelRef(_Frozen):
    name: str
    onnx_sha256: str
    input: TensorSpec
    output: TensorSpec
    classes: str | None = None  # "imagenet", "mnist": how results name their classes


class BatchPolicy(_Frozen):
    max_size: int = Field(default=8, ge=1, le=1024)
    max_wait_ms: float = Field(default=5.0, ge=0, le=60_000)


class CutPlan(_Frozen):
    index: int = Field(ge=1)
    tensors: tuple[TensorSpec, ...] = Field(min_length=1)
    encoding: EncodingName = "raw"
    topic: str
    max_message_bytes: int = Field(ge=1024)

    @property
    def tensor_encoding(self) -> TensorEncoding:
        return TensorEncoding.parse(self.encoding)

    @property
    def bytes_per_frame(self) -> int:
        return sum(t.bytes_per_frame for t in self.tensors)


class StagePlan(_Frozen):
    index: int = Field(ge=0)
    tier: str
    onnx: str  # path of the partition, relative to the plan file
    onnx_sha256: str
    input_topic: str
    output_topic: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    passthrough: tuple[TensorSpec, ...] = ()
    batch: BatchPolicy = BatchPolicy()
    threads: int = Field(default=1, ge=1, le=256)
    replicas: int = Field(default=1, ge=1)


class Topics(_Frozen):
    frames: str
    results: str
    dead_letters: str
    metrics: str  # stage metrics, per pipeline
    partitions: int = Field(default=1, ge=1)
    frames_max_message_bytes: int = Field(ge=1024)
    results_max_message_bytes: int = Field(ge=1024)


class Plan(_Frozen):
    """What `edgesplit deploy` runs. Equal plans are equal values; a change is a new version."""

    edgesplit_plan: Literal[1] = FORMAT
    pipeline: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    version: int = Field(ge=1)
    model: ModelRef
    topics: Topics
    cuts: tuple[CutPlan, ...] = ()
    stages: tuple[StagePlan, ...] = Field(min_length=1)
    results_top_k: int = Field(default=5, ge=1, le=1000)
    delivery: Delivery = "at-least-once"
    predicted: dict[str, float] | None = None  # the cost model's figures, when it chose the plan

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if [s.index for s in self.stages] != list(range(len(self.stages))):
            raise ValueError("stages must be numbered 0, 1, 2, ... in order")
        if len(self.cuts) != len(self.stages) - 1:
            raise ValueError(f"{len(self.cuts)} cuts need {len(self.cuts) + 1} stages")
        indexes = [c.index for c in self.cuts]
        if indexes != sorted(set(indexes)):
            raise ValueError(f"cut indexes must increase strictly, got {indexes}")
        expected_in = [self.topics.frames, *(c.topic for c in self.cuts)]
        expected_out = [*(c.topic for c in self.cuts), self.topics.results]
        for stage, tin, tout in zip(self.stages, expected_in, expected_out, strict=True):
            if (stage.input_topic, stage.output_topic) != (tin, tout):
                raise ValueError(
                    f"stage {stage.index} must read {tin} and write {tout}, "
                    f"not {stage.input_topic} -> {stage.output_topic}"
                )
        if len(set(self.topic_names)) != len(self.topic_names):
            raise ValueError(f"topic names must differ, got {self.topic_names}")
        for i, cut in enumerate(self.cuts):
            sent = {t.name for t in (*self.stages[i].outputs, *self.stages[i].passthrough)}
            if sent != {t.name for t in cut.tensors}:
                raise ValueError(f"stage {i} does not send exactly cut {i}'s tensors")
        return self

    # --- derived --------------------------------------------------------------------

    def stage(self, index: int) -> StagePlan:
        if not 0 <= index < len(self.stages):
            raise ConfigError(
                f"plan {self.pipeline} v{self.version} has stages 0..{len(self.stages) - 1}, "
                f"not {index}"
            )
        return self.stages[index]

    def input_cut(self, stage: int) -> CutPlan | None:
        """The cut a stage reads (None for stage 0, which reads frames)."""
        return self.cuts[stage - 1] if stage > 0 else None

    def output_cut(self, stage: int) -> CutPlan | None:
        """The cut a stage writes (None for the last stage, which writes results)."""
        return self.cuts[stage] if stage < len(self.cuts) else None

    def group_id(self, stage: int) -> str:
        return f"{TOPIC_PREFIX}.{self.pipeline}.v{self.version}.stage-{stage}"

    @property
    def topic_names(self) -> list[str]:
        return [
            self.topics.frames,
            *(c.topic for c in self.cuts),
            self.topics.results,
            self.topics.dead_letters,
            self.topics.metrics,
        ]


def topic_name(pipeline: str, version: int, what: str) -> str:
    """Per-version topics (frames, cut-N, results); dead letters and metrics per pipeline."""
    if what in ("dead-letters", "metrics"):
        return f"{TOPIC_PREFIX}.{pipeline}.{what}"
    return f"{TOPIC_PREFIX}.{pipeline}.v{version}.{what}"


# --- files -------------------------------------------------------------------------


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:8]:
        where = ".".join(str(p) for p in err["loc"]) or "plan"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file; ConfigError says which field is wrong and why."""
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read plan file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"plan file {path} is not valid YAML: {exc}") from exc
    return _validate(raw, f"plan file {path}", str(path))


def parse_plan(text: str, source: str) -> Plan:
    """A plan from YAML text (e.g. a record of the plans topic); `source` names it in errors."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    return _validate(raw, source, source)


def _validate(raw: Any, what: str, name: str) -> Plan:
    if not isinstance(raw, dict) or "edgesplit_plan" not in raw:
        raise ConfigError(
            f"{name} is not an edgesplit plan (no `edgesplit_plan:` key); "
            "write one with `edgesplit plan manual`"
        )
    try:
        return Plan.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"bad {what}: {_explain(exc)}") from exc


def save_plan(plan: Plan, path: Path) -> None:
    data = plan.model_dump(mode="json", exclude_none=True)
    path.write_text(
        "# edgesplit plan: written by `edgesplit plan`, run by `edgesplit deploy`.\n"
        + yaml.safe_dump(data, sort_keys=False, width=100)
    )


def stage_model_path(plan_path: Path, stage: StagePlan) -> Path:
    return (plan_path.parent / stage.onnx).resolve()


def verify_stage_model(plan_path: Path, stage: StagePlan) -> Path:
    """The stage's ONNX partition, checked against the digest in the plan."""
    path = stage_model_path(plan_path, stage)
    if not path.is_file():
        raise ConfigError(
            f"stage {stage.index}'s model {path} is missing; it is written next to the plan "
            "by `edgesplit plan`"
        )
    digest = sha256_file(path)
    if digest != stage.onnx_sha256:
        raise ConfigError(
            f"stage {stage.index}'s model {path} does not match the plan (sha256 {digest[:12]}, "
            f"plan says {stage.onnx_sha256[:12]}); write the plan again"
        )
    return path
