"""The validation report: error arithmetic, the headline figures and the files."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgesplit.bench import validation_report
from edgesplit.bench.checks import ChoiceCheck, CutCheck, Validation


def _cut(cut: int, uplink: str, pred: float, meas: float, ms: tuple[float, float]) -> CutCheck:
    return CutCheck(cut, uplink, 5e6, pred, meas, True, 20, "stage 0 (edge)", (10.0, 5.0), ms)


def _validation() -> Validation:
    v = Validation("m", 0.5, ("100mbit", "5mbit"), 4, links={"100mbit": 9.6e7, "5mbit": 4.8e6})
    v.cuts = [
        _cut(1, "100mbit", 100.0, 90.0, (11.0, 5.0)),  # +11%, compute -9% / 0%
        _cut(1, "5mbit", 10.0, 7.0, (11.0, 5.0)),  # +43%
        _cut(2, "100mbit", 50.0, 50.0, (10.0, 8.0)),  # compute 0% / -38%
        _cut(2, "5mbit", 5.0, 5.5, (10.0, 8.0)),
    ]
    v.choices = [ChoiceCheck("5mbit", "edge | cut 2 (raw) | cloud", 5.0, 5.5, 1, 7.0, 4.0, 2.0)]
    return v


def _per_run(v: Validation, name: str, values: tuple[float, ...]) -> None:
    """Give each of the sweep's runs its own figure of a host measure (steal, ...)."""
    changes: list[dict[str, Any]] = [{name: x} for x in values]
    v.cuts = [replace(c, **change) for c, change in zip(v.cuts, changes, strict=True)]


def _cuts_csv(out: Path) -> list[dict[str, str]]:
    with (out / "cuts.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_errors_are_relative_to_the_measurement() -> None:
    c = _cut(1, "5mbit", 10.0, 8.0, (12.0, 4.0))
    assert abs(c.fps_error - 0.25) < 1e-9
    edge, cloud = c.ms_error(0), c.ms_error(1)
    assert edge is not None and abs(edge + 1 / 6) < 1e-9  # 10 vs 12
    assert cloud is not None and abs(cloud - 0.25) < 1e-9


def test_headline_counts_compute_per_cut_and_uplink_and_throughput_per_uplink() -> None:
    # A stage's compute depends on the uplink: behind a thin one a stage waits for input.
    lines = validation_report.headline(_validation())
    assert lines[0] == (
        "edge stage compute within 15%: 4/4 cuts x uplinks (worst 9%) (100mbit 2/2, 5mbit 2/2)"
    )
    assert lines[1].startswith(
        "cloud stage compute within 15%: 2/4 cuts x uplinks (worst 38%) (100mbit 1/2, 5mbit 1/2)"
    )
    assert lines[2].startswith("throughput within 20% at 100mbit: 2/2 cuts")
    assert lines[3].startswith("throughput within 20% at 5mbit: 1/2 cuts (worst 43%)")
    choice = _validation().choices[0]
    assert abs(choice.of_oracle - 5.5 / 7.0) < 1e-9 and choice.beats_a_one_tier_plan
    assert "79% of the oracle" in lines[4]


def test_headline_says_how_much_the_hypervisor_stole(tmp_path: Path) -> None:
    v = _validation()
    assert not any("steal" in line for line in validation_report.headline(v))  # unknown
    _per_run(v, "steal", (0.01, 0.02, 0.30, 0.03))
    assert validation_report.headline(v)[-1] == (
        "CPU steal during the sweep's runs: median 2.5%, most 30%; 1/4 runs over 10% "
        "after up to three tries"
    )
    validation_report.write(v, tmp_path)
    assert "| stage 0 (edge) | 30% |" in (tmp_path / "validation.md").read_text()
    assert _cuts_csv(tmp_path)[2]["steal"] == "0.3000"


def test_headline_says_how_much_was_stolen_while_profiling() -> None:
    v = _validation()
    v.profile_steal = {"edge": 0.012, "cloud": 0.25}
    assert validation_report.headline(v)[-1] == (
        "CPU steal while the profiles were measured: edge 1.2%, cloud 25.0%"
    )


def test_headline_says_which_misses_ran_with_the_host_busy(tmp_path: Path) -> None:
    """A run with the host's CPUs busy throughout may have been limited by the host (the
    broker, the benchmark, the edge's quota beside the cloud tier), not by its plan."""
    v = _validation()
    assert not any("host CPUs" in line for line in validation_report.headline(v))  # unknown
    busy = (0.95, 0.50, 0.60, 0.85)  # the 5mbit miss (cut 1) ran with the host at 50%
    _per_run(v, "host_busy", busy)
    assert validation_report.headline(v)[-1].startswith(
        "host CPUs over 75% busy in 2/4 of the sweep's runs, 0 of its 1 throughput misses "
        "among them"
    )
    validation_report.write(v, tmp_path)
    assert "| stage 0 (edge) | - | 95% |" in (tmp_path / "validation.md").read_text()
    assert _cuts_csv(tmp_path)[0]["host_busy"] == "0.9500"


def test_headline_says_how_much_slower_the_host_was_than_when_profiled(tmp_path: Path) -> None:
    v = _validation()
    assert not any("slowdown" in line for line in validation_report.headline(v))  # unknown
    slow = (1.0, 1.4, 0.9, 1.2)  # the 5mbit miss (cut 1) ran on a host 1.4x slower
    _per_run(v, "slowdown", slow)
    assert validation_report.headline(v)[-1].startswith(
        "host slowdown against the profiles' time (the whole model timed during each run): "
        "median x1.10, x0.90-x1.40; over x1.15 in 2/4 runs, 1 of the 1 throughput misses "
        "among them"
    )
    validation_report.write(v, tmp_path)
    assert "| stage 0 (edge) | - | - | x1.40 |" in (tmp_path / "validation.md").read_text()
    assert _cuts_csv(tmp_path)[1]["slowdown"] == "1.400"


def test_write_makes_the_tables_and_the_plot(tmp_path: Path) -> None:
    written = validation_report.write(_validation(), tmp_path)
    names = {p.name for p in written}
    assert names == {"cuts.csv", "choices.csv", "validation.md", "validation.png"}
    md = (tmp_path / "validation.md").read_text()
    assert "| 1 | 5mbit | 10.00 / 11.00 | -9% | 5.00 / 5.00 | +0% | 10.0 / 7.0 | +43% |" in md
    assert len((tmp_path / "cuts.csv").read_text().splitlines()) == 5


def test_the_report_says_each_cut_is_the_median_of_its_passes(tmp_path: Path) -> None:
    v = _validation()
    v.repeats = 3
    v.cuts = [replace(c, runs=3) for c in v.cuts]
    validation_report.write(v, tmp_path)
    assert "every cut in 3 passes (its figures the medians of its runs)" in (
        (tmp_path / "validation.md").read_text()
    )
    assert [r["runs"] for r in _cuts_csv(tmp_path)] == ["3"] * 4


def test_side_by_side_rounds_decide_the_choice_figures(tmp_path: Path) -> None:
    """The sweep's oracle is the best of many noisy runs, minutes from the choice's own run:
    once the plans are measured side by side, those medians are the ones compared."""
    sweep = _validation().choices[0]
    rounds = {
        "chosen": (6.0, 6.6, 6.2),
        "oracle": (6.4, 6.5, 7.0),
        "edge-only": (4.0, 4.2, 3.9),
        "cloud-only": (2.0, 2.1, 1.9),
    }
    side = replace(sweep, rounds=rounds)
    assert side.fps("chosen") == 6.2 and side.fps("oracle") == 6.5
    assert abs(side.of_oracle - 6.2 / 6.5) < 1e-9
    assert abs(side.of_oracle_in_sweep - 5.5 / 7.0) < 1e-9
    assert side.beats_a_one_tier_plan
    assert not replace(sweep, rounds={**rounds, "chosen": (1.0,)}).beats_a_one_tier_plan

    v = _validation()
    v.choices = [side]
    line = validation_report.headline(v)[-1]
    assert "6.2 frames/s = 95% of the oracle (cut 1, 6.5)" in line
    assert "median of 3 rounds; in the sweep 5.5 = 79% of 7.0" in line
    validation_report.write(v, tmp_path)
    with (tmp_path / "choices.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert row["of_oracle"] == "0.9538" and row["of_oracle_in_sweep"] == "0.7857"
    assert row["oracle_rounds"] == "6.400;6.500;7.000"
    assert row["oracle_steal"] == row["chosen_slowdown"] == ""  # not known
    assert (
        r"| 5mbit | edge \| cut 2 (raw) \| cloud | 5.0 | 6.2 | 1 | 6.5 | 95% |"
        in (tmp_path / "validation.md").read_text()
    )


def test_choice_line_says_how_the_host_was_in_the_rounds(tmp_path: Path) -> None:
    """A chosen plan far below the oracle side by side: the planner's miss, or the host's?"""
    rounds = {"chosen": (3.8, 4.5, 6.5), "oracle": (9.6, 8.4, 9.9)}
    v = _validation()
    v.choices = [
        replace(
            v.choices[0],
            rounds=rounds,
            rounds_steal={"chosen": (0.02, None, 0.12), "oracle": (0.01, 0.0, 0.03)},
            rounds_slowdown={"chosen": (1.9, 1.02, None), "oracle": (1.0, 1.1, 0.98)},
        )
    ]
    line = validation_report.headline(v)[-1]
    assert line.endswith("; the host in the rounds: steal up to 12%, slowdown up to x1.90")
    validation_report.write(v, tmp_path)
    with (tmp_path / "choices.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert row["chosen_steal"] == "0.020;;0.120" and row["chosen_slowdown"] == "1.900;1.020;"
    assert row["edge_only_rounds"] == ""  # not measured side by side


def test_headline_counts_small_segments_apart() -> None:
    # Under 1 ms a frame, a stage's compute after a wait is mostly refilling caches that
    # the host's other guests drained: the headline says how the checks split by size.
    v = _validation()
    small = [_cut(3, "100mbit", 50.0, 50.0, (0.2, 8.0)), _cut(3, "5mbit", 5.0, 5.0, (0.3, 8.0))]
    v.cuts += [replace(c, predicted_ms=(0.22, 8.0)) for c in small]  # +10%, -27%
    edge, cloud = validation_report.headline(v)[:2]
    assert "(100mbit 3/3, 5mbit 2/3); 1 ms a frame or more 4/4, under 1 ms 1/2" in edge
    assert "under 1 ms" not in cloud


def test_headline_bins_stage_compute_by_how_long_the_stage_waited(tmp_path: Path) -> None:
    # Behind a thin uplink a stage idles for seconds before each batch, longer than any
    # pause the profiler times runs after: the report says where the misses wait.
    v = _validation()
    v.cuts = [replace(c, batches=({4: 5}, {4: 5})) for c in v.cuts]
    v.cuts.append(replace(_cut(3, "5mbit", 0.5, 0.5, (12.0, 5.0)), batches=({4: 1}, None)))
    edge, cloud = validation_report.headline(v)[-2:]
    by_wait = "within 15%, by how long the stage waited before each batch: "
    assert edge == (
        f"edge stage compute of 1 ms a frame or more {by_wait}"
        "under 0.25 s 2/2, 0.25-1 s 2/2, 4 s or more 0/1"  # 4 frames at 0.5/s, 48 ms busy
    )
    assert (
        cloud
        == f"cloud stage compute of 1 ms a frame or more {by_wait}under 0.25 s 1/2, 0.25-1 s 1/2"
    )
    validation_report.write(v, tmp_path)
    last = _cuts_csv(tmp_path)[-1]
    assert (last["edge_wait_s"], last["cloud_wait_s"]) == ("7.952", "")


def test_the_first_wait_bin_ends_at_the_profilers_long_pause() -> None:
    # Under it, a stage's wait is one the profile timed runs after.
    from edgesplit.orchestrator.profiler import LONG_S  # noqa: PLC0415

    assert validation_report.WAIT_BINS[0] == LONG_S
