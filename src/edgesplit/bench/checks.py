"""A validation's records: each cut predicted against measured, each uplink's choice
against the oracle, and the whole run. Plain data: `validate` fills them, the report
(`validation_report`) reads them."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Basis = Literal["predicted", "profiled", "at_speed"]


@dataclass(frozen=True)
class CutCheck:
    """One cut at one uplink: predicted against measured."""

    cut: int
    uplink: str
    link_bps: float  # what the prediction assumed (measured through the broker)
    predicted_fps: float
    measured_fps: float
    complete: bool
    frames: int
    bottleneck: str
    predicted_ms: tuple[float, float]  # edge, cloud: compute per frame
    measured_ms: tuple[float | None, float | None]
    # the batches each stage's compute was measured over (size -> how many); the predicted
    # compute is for the same sizes (None: not measured, predicted at the plan's size)
    batches: tuple[Mapping[int, int] | None, Mapping[int, int] | None] = (None, None)
    # the profiles' own prediction, where `predicted_*` are calibrated (see `calibrate`)
    profiled_fps: float | None = None
    profiled_ms: tuple[float, float] | None = None
    steal: float | None = None  # of the host's CPU during the run (`kafka_runs.RunFigures`)
    host_busy: float | None = None  # of the host's CPUs during the run (same)
    slowdown: float | None = None  # the host's, against when the profiles were measured
    # the profiles' prediction with compute scaled by `slowdown` (`at_host_speed`)
    at_speed_fps: float | None = None
    at_speed_ms: tuple[float, float] | None = None
    runs: int = 1  # measured this many times: the figures are their medians (`median_runs`)

    @property
    def fps_error(self) -> float:
        return self.fps_error_of("predicted")

    def fps_error_of(self, basis: Basis) -> float:
        """The error of one prediction: `predicted` (calibrated where there is a
        calibration), `profiled` (the profiles alone) or `at_speed` (the profiles at the
        run's host speed); either of the last two, where missing, is `predicted`."""
        fps = {"profiled": self.profiled_fps, "at_speed": self.at_speed_fps}.get(basis)
        fps = self.predicted_fps if fps is None else fps
        return fps / self.measured_fps - 1 if self.measured_fps else float("inf")

    def ms_error(self, stage: int, basis: Basis = "predicted") -> float | None:
        """`stage`'s compute error, of the prediction `basis` (as `fps_error_of`)."""
        m = self.measured_ms[stage]
        ms = {"profiled": self.profiled_ms, "at_speed": self.at_speed_ms}.get(basis)
        ms = self.predicted_ms if ms is None else ms
        return None if not m else ms[stage] / m - 1

    def frames_per_batch(self, stage: int) -> float | None:
        """How full `stage`'s measured batches were on average (None: not measured)."""
        mix = self.batches[stage]
        if not mix:
            return None
        return sum(size * n for size, n in mix.items()) / sum(mix.values())

    def wait_s(self, stage: int) -> float | None:
        """How long `stage` idled before each of its batches, from the run's measured
        figures: a batch's frames came over size / throughput seconds, size x its compute
        of them busy (None: not measured)."""
        size, ms = self.frames_per_batch(stage), self.measured_ms[stage]
        if size is None or not ms or not self.measured_fps:
            return None
        return max(size / self.measured_fps - size * ms / 1000, 0.0)


CONTENDERS = ("chosen", "oracle", "edge-only", "cloud-only")


@dataclass(frozen=True)
class ChoiceCheck:
    """`plan auto` at one uplink against the oracle and the two one-tier plans.

    The `*_fps` figures are the sweep's: each plan measured once, minutes apart, and the
    oracle is the highest of many noisy figures. `rounds` measures the same plans again
    side by side (one after another, `rounds` times, frames/s per round, keyed by
    CONTENDERS): on a host whose speed drifts, those are the figures to compare.
    `rounds_steal` and `rounds_slowdown` say, run by run, how the host was meanwhile.
    """

    uplink: str
    chosen: str
    predicted_fps: float
    measured_fps: float
    oracle_cut: int
    oracle_fps: float
    edge_only_fps: float
    cloud_only_fps: float
    rounds: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    rounds_steal: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)
    rounds_slowdown: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)

    def fps(self, contender: str) -> float:
        """Median of the side-by-side rounds, or the sweep's figure without them."""
        if runs := self.rounds.get(contender):
            return statistics.median(runs)
        return {
            "chosen": self.measured_fps,
            "oracle": self.oracle_fps,
            "edge-only": self.edge_only_fps,
            "cloud-only": self.cloud_only_fps,
        }[contender]

    @property
    def of_oracle(self) -> float:
        """The chosen plan's throughput over the oracle's (side by side, where measured)."""
        oracle = self.fps("oracle")
        return self.fps("chosen") / oracle if oracle else 0.0

    @property
    def of_oracle_in_sweep(self) -> float:
        return self.measured_fps / self.oracle_fps if self.oracle_fps else 0.0

    @property
    def beats_a_one_tier_plan(self) -> bool:
        return self.fps("chosen") >= min(self.fps("edge-only"), self.fps("cloud-only"))


@dataclass
class Validation:
    model: str
    edge_cpu: float
    uplinks: tuple[str, ...]
    batch: int
    repeats: int = 1  # passes over the cuts: each cut's figures are the median of its runs
    links: dict[str, float] = field(default_factory=dict)
    cuts: list[CutCheck] = field(default_factory=list)
    choices: list[ChoiceCheck] = field(default_factory=list)
    seconds: float = 0.0
    calibration: dict[str, float] = field(default_factory=dict)  # tier -> measured/profiled
    # tier -> measured/profiled in each pass's one-tier run (`calibration`: their median)
    calibration_runs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # tier -> the share of the host's CPU the hypervisor stole while it was profiled
    profile_steal: dict[str, float] = field(default_factory=dict)
