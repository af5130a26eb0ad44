"""Benchmark scenarios: a model, real frames, emulated tiers and the strategies to compare.

A scenario is a YAML file (shipped ones live in edgesplit/bench/scenarios and are named
by their stem: `edgesplit bench run mobilenet_v2`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesplit.errors import ConfigError
from edgesplit.orchestrator.plan import EncodingName

Strategy = Literal[
    "every-cut", "edge-only", "cloud-only", "cloud-only-jpeg", "rpc", "unsplit", "plan"
]
ALL_STRATEGIES: tuple[str, ...] = (
    "every-cut",
    "edge-only",
    "cloud-only",
    "cloud-only-jpeg",
    "rpc",
    "unsplit",
    "plan",
)


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$")
    model: str
    frames: int = Field(default=60, ge=5, le=100_000, description="per throughput run")
    latency_frames: int = Field(default=30, ge=5, le=100_000)
    seed: int = 1
    batch: int = Field(default=4, ge=1, le=256)
    encoding: EncodingName = "raw"  # of the activations at the cut, for split strategies
    edge_cpu: float = Field(default=0.5, gt=0, le=64)
    uplinks: tuple[str, ...] = Field(min_length=1)
    strategies: tuple[Strategy, ...] = (
        "every-cut",
        "edge-only",
        "cloud-only",
        "cloud-only-jpeg",
        "rpc",
        "unsplit",
    )
    plan: str | None = None  # a chosen plan file, relative to the scenario file
    budget_s: float = Field(default=12.0, gt=0, description="at most this per measurement")
    rpc_in_flight: int = Field(default=4, ge=1, le=64)


def shipped() -> dict[str, Path]:
    folder = Path(str(resources.files("edgesplit.bench") / "scenarios"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def find_scenario(spec: str) -> Path:
    """A scenario file path, or the name of a shipped scenario."""
    path = Path(spec)
    if path.is_file():
        return path
    known = shipped()
    if spec in known:
        return known[spec]
    raise ConfigError(
        f"no scenario file {spec!r} and no shipped scenario of that name "
        f"(shipped: {', '.join(known)})"
    )


def load_scenario(path: Path) -> Scenario:
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc}") from exc
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'scenario'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"bad scenario {path}: {problems}") from exc
    if "plan" in scenario.strategies and not scenario.plan:
        raise ConfigError(f"bad scenario {path}: strategy `plan` needs `plan: PLAN.yaml`")
    return scenario
