"""A validation run's files: the error table, the choice table, CSVs and a scatter plot."""

from __future__ import annotations

import bisect
import csv
import itertools
import statistics
from collections.abc import Sequence
from pathlib import Path

from edgesplit.bench.checks import CONTENDERS, Basis, ChoiceCheck, CutCheck, Validation
from edgesplit.bench.speed import SLOW
from edgesplit.orchestrator.steal import HOST_BUSY, steal_summary

COMPUTE_TOLERANCE = 0.15
# Stage compute under this (ms a frame, measured) is counted apart in the headline: after a
# wait, most of such a segment's cost is refilling the caches, and on a shared VM the
# other guests drain the shared last-level cache at their own pace.
SMALL_MS = 1.0
# s a stage idled before each batch, the edges of the headline's wait bins: the profiler's
# long pause (`profiler.LONG_S`, the longest wait it times runs after by default; not
# imported: it would load ONNX Runtime into the report), then waits of seconds,
# which on some days' testbed VMs cost more the longer they were (docs/validation.md).
WAIT_BINS = (0.25, 1.0, 4.0)
ROUND_COLUMNS = ("rounds", "steal", "slowdown")  # choices.csv, per contender
THROUGHPUT_TOLERANCE = 0.20


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a plan's description has `|` in it."""
    return text.replace("|", "\\|")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0%}"


def within(errors: Sequence[float | None], tolerance: float) -> tuple[int, int]:
    known = [e for e in errors if e is not None]
    return sum(abs(e) <= tolerance for e in known), len(known)


def headline(v: Validation) -> list[str]:
    """The figures the issue asks for, one line each (with a calibration: calibrated, and
    from the profiles alone; with the host's speed metered, the profiles at each run's
    host speed too)."""
    lines = []
    if v.calibration:
        factors = ", ".join(
            f"{t} x{f:.2f}{_of_passes(v.calibration_runs.get(t, ()))}"
            for t, f in v.calibration.items()
        )
        lines.append(
            f"calibrated on the one-tier runs' stage metrics: {factors} "
            "(measured / profiled compute of the whole model)"
        )
    for stage, name in ((0, "edge"), (1, "cloud")):
        ok, n = within([c.ms_error(stage) for c in v.cuts], COMPUTE_TOLERANCE)
        worst = max((abs(e) for c in v.cuts if (e := c.ms_error(stage)) is not None), default=0)
        line = f"{name} stage compute within {COMPUTE_TOLERANCE:.0%}: {ok}/{n} cuts "
        line += f"(worst {worst:.0%})"
        if len(v.uplinks) > 1:  # a stage's compute depends on the uplink: waiting or not
            each = [
                f"{u} {'/'.join(map(str, within(errs, COMPUTE_TOLERANCE)))}"
                for u in v.uplinks
                if (errs := [c.ms_error(stage) for c in v.cuts if c.uplink == u])
            ]
            line = line.replace(" cuts ", " cuts x uplinks ") + f" ({', '.join(each)})"
        line += _by_size(v.cuts, stage)
        line += _other_bases(v, v.cuts, COMPUTE_TOLERANCE, stage)
        lines.append(line)
    for uplink in v.uplinks:
        rows = [c for c in v.cuts if c.uplink == uplink]
        ok, n = within([c.fps_error for c in rows], THROUGHPUT_TOLERANCE)
        worst = max((abs(c.fps_error) for c in rows), default=0.0)
        line = (
            f"throughput within {THROUGHPUT_TOLERANCE:.0%} at {uplink}: {ok}/{n} cuts "
            f"(worst {worst:.0%})"
        )
        line += _other_bases(v, rows, THROUGHPUT_TOLERANCE)
        lines.append(line)
    lines += [_choice_line(ch) for ch in v.choices]
    if v.profile_steal:
        figures = ", ".join(f"{t} {s:.1%}" for t, s in v.profile_steal.items())
        lines.append(f"CPU steal while the profiles were measured: {figures}")
    if stolen := _steal_line(v.cuts):
        lines.append(stolen)
    if busy := _host_line(v.cuts):
        lines.append(busy)
    if slow := _slowdown_line(v.cuts):
        lines.append(slow)
    for stage, name in ((0, "edge"), (1, "cloud")):
        if waited := _wait_line(v.cuts, stage, name):
            lines.append(waited)
    return lines


def _wait_line(cuts: Sequence[CutCheck], stage: int, name: str) -> str | None:
    """'edge stage compute ... by how long the stage waited before a batch: under 0.25 s
    63/64, 0.25-1 s 33/41, ...': `stage`'s checks of SMALL_MS a frame or more within
    COMPUTE_TOLERANCE, binned by its measured wait (`CutCheck.wait_s`, WAIT_BINS)."""
    bins: list[list[float | None]] = [[] for _ in range(len(WAIT_BINS) + 1)]
    for c in cuts:
        wait, ms = c.wait_s(stage), c.measured_ms[stage]
        if wait is not None and ms is not None and ms >= SMALL_MS:
            bins[bisect.bisect_right(WAIT_BINS, wait)].append(c.ms_error(stage))
    labels = [
        f"under {WAIT_BINS[0]:g} s",
        *(f"{a:g}-{b:g} s" for a, b in itertools.pairwise(WAIT_BINS)),
        f"{WAIT_BINS[-1]:g} s or more",
    ]
    counts = [
        f"{label} {'/'.join(map(str, within(errors, COMPUTE_TOLERANCE)))}"
        for label, errors in zip(labels, bins, strict=True)
        if errors
    ]
    if not counts:
        return None
    return (
        f"{name} stage compute of {SMALL_MS:g} ms a frame or more within "
        f"{COMPUTE_TOLERANCE:.0%}, by how long the stage waited before each batch: "
        + ", ".join(counts)
    )


def _by_size(cuts: Sequence[CutCheck], stage: int) -> str:
    """'; 1 ms a frame or more 63/63, under 1 ms 8/12': `stage`'s compute checks counted
    by the size of what it measured, where some are small (SMALL_MS)."""
    errors: dict[bool, list[float | None]] = {False: [], True: []}  # small?
    for c in cuts:
        if ms := c.measured_ms[stage]:
            errors[ms < SMALL_MS].append(c.ms_error(stage))
    if not errors[True]:
        return ""
    large, small = (within(errors[k], COMPUTE_TOLERANCE) for k in (False, True))
    return (
        f"; {SMALL_MS:g} ms a frame or more {large[0]}/{large[1]}, "
        f"under {SMALL_MS:g} ms {small[0]}/{small[1]}"
    )


def _other_bases(
    v: Validation, rows: Sequence[CutCheck], tolerance: float, stage: int | None = None
) -> str:
    """'; profiles alone 40/53; at each run's host speed 50/53': how many of `rows` the
    other predictions get within `tolerance` (stage compute, or throughput without a
    `stage`), each where the validation has it."""

    def error(c: CutCheck, basis: Basis) -> float | None:
        return c.fps_error_of(basis) if stage is None else c.ms_error(stage, basis)

    out = ""
    bases: list[tuple[Basis, str]] = [("profiled", "profiles alone")] if v.calibration else []
    if any(c.at_speed_fps is not None for c in rows):
        bases.append(("at_speed", "at each run's host speed"))
    for basis, name in bases:
        ok, n = within([error(c, basis) for c in rows], tolerance)
        out += f"; {name} {ok}/{n}"
    return out


def _steal_line(cuts: Sequence[CutCheck]) -> str | None:
    """How much the hypervisor took from the sweep's runs (the least stolen of up to three
    kept where the first lost more than MAX_STEAL)."""
    figures = steal_summary(c.steal for c in cuts)
    if figures is None:
        return None
    return f"CPU steal during the sweep's runs: {figures} after up to three tries"


def _host_line(cuts: Sequence[CutCheck]) -> str | None:
    """How many of the sweep's runs, and of its throughput misses, had the host's CPUs
    busy throughout: a limit the cost model does not see."""
    known = [c for c in cuts if c.host_busy is not None]
    if not known:
        return None
    busy = [c for c in known if c.host_busy is not None and c.host_busy > HOST_BUSY]
    misses = [c for c in known if abs(c.fps_error) > THROUGHPUT_TOLERANCE]
    return (
        f"host CPUs over {HOST_BUSY:.0%} busy in {len(busy)}/{len(known)} of the sweep's "
        f"runs, {sum(c in busy for c in misses)} of its {len(misses)} throughput misses "
        "among them (the cloud tier's stages, the broker, this benchmark and the edge's "
        "quota share them; the cost model counts the stages' tiers only)"
    )


def _of_passes(runs: Sequence[float]) -> str:
    """' (median of 3 passes: x0.95-x1.19)', where a factor is the median of several."""
    if len(runs) < 2:
        return ""
    return f" (median of {len(runs)} passes: x{min(runs):.2f}-x{max(runs):.2f})"


def _slowdown_line(cuts: Sequence[CutCheck]) -> str | None:
    """How much slower than when the profiles were measured the host was during the
    sweep, and how many throughput misses ran on a host over SLOW slower."""
    known = [c for c in cuts if c.slowdown is not None]
    if not known:
        return None
    factors = sorted(c.slowdown for c in known if c.slowdown is not None)
    slow = [c for c in known if c.slowdown is not None and c.slowdown > SLOW]
    misses = [c for c in known if abs(c.fps_error) > THROUGHPUT_TOLERANCE]
    return (
        f"host slowdown against the profiles' time (the whole model timed during each "
        f"run): median x{statistics.median(factors):.2f}, x{factors[0]:.2f}-"
        f"x{factors[-1]:.2f}; over x{SLOW:.2f} in {len(slow)}/{len(known)} runs, "
        f"{sum(c in slow for c in misses)} of the {len(misses)} throughput misses among them"
    )


def _choice_line(ch: ChoiceCheck) -> str:
    line = (
        f"{ch.uplink}: plan auto chose {ch.chosen}: {ch.fps('chosen'):.1f} frames/s = "
        f"{ch.of_oracle:.0%} of the oracle (cut {ch.oracle_cut}, {ch.fps('oracle'):.1f}); "
        f"edge-only {ch.fps('edge-only'):.1f}, cloud-only {ch.fps('cloud-only'):.1f}"
    )
    if not ch.rounds:
        return line
    n = len(ch.rounds["chosen"])
    rounds = f"{n} rounds" if n > 1 else "1 round"
    return (
        f"{line} (side by side, median of {rounds}; in the sweep {ch.measured_fps:.1f} = "
        f"{ch.of_oracle_in_sweep:.0%} of {ch.oracle_fps:.1f}){_rounds_host(ch)}"
    )


def _rounds_host(ch: ChoiceCheck) -> str:
    """'; the host in the rounds: steal up to 12%, slowdown up to x1.52' (as known)."""
    steal = [s for runs in ch.rounds_steal.values() for s in runs if s is not None]
    slow = [s for runs in ch.rounds_slowdown.values() for s in runs if s is not None]
    parts = ([f"steal up to {max(steal):.0%}"] if steal else []) + (
        [f"slowdown up to x{max(slow):.2f}"] if slow else []
    )
    return f"; the host in the rounds: {', '.join(parts)}" if parts else ""


def write(v: Validation, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    csvs = [_cuts_csv(v, out / "cuts.csv"), _choices_csv(v, out / "choices.csv")]
    return [*csvs, _md(v, out), *_plot(v, out)]


def _cuts_csv(v: Validation, path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "cut",
                "uplink",
                "link_bps",
                "predicted_fps",
                "measured_fps",
                "fps_error",
                "complete",
                "frames",
                "bottleneck",
                "edge_predicted_ms",
                "edge_measured_ms",
                "cloud_predicted_ms",
                "cloud_measured_ms",
                "profiled_fps",
                "edge_profiled_ms",
                "cloud_profiled_ms",
                "steal",
                "host_busy",
                "slowdown",
                "at_speed_fps",
                "edge_at_speed_ms",
                "cloud_at_speed_ms",
                "edge_batch",
                "cloud_batch",
                "runs",
                "edge_wait_s",
                "cloud_wait_s",
            ]
        )
        for c in v.cuts:
            w.writerow(
                [
                    c.cut,
                    c.uplink,
                    round(c.link_bps),
                    f"{c.predicted_fps:.3f}",
                    f"{c.measured_fps:.3f}",
                    f"{c.fps_error:.4f}",
                    c.complete,
                    c.frames,
                    c.bottleneck,
                    f"{c.predicted_ms[0]:.3f}",
                    "" if c.measured_ms[0] is None else f"{c.measured_ms[0]:.3f}",
                    f"{c.predicted_ms[1]:.3f}",
                    "" if c.measured_ms[1] is None else f"{c.measured_ms[1]:.3f}",
                    "" if c.profiled_fps is None else f"{c.profiled_fps:.3f}",
                    "" if c.profiled_ms is None else f"{c.profiled_ms[0]:.3f}",
                    "" if c.profiled_ms is None else f"{c.profiled_ms[1]:.3f}",
                    "" if c.steal is None else f"{c.steal:.4f}",
                    "" if c.host_busy is None else f"{c.host_busy:.4f}",
                    "" if c.slowdown is None else f"{c.slowdown:.3f}",
                    "" if c.at_speed_fps is None else f"{c.at_speed_fps:.3f}",
                    "" if c.at_speed_ms is None else f"{c.at_speed_ms[0]:.3f}",
                    "" if c.at_speed_ms is None else f"{c.at_speed_ms[1]:.3f}",
                    *("" if b is None else f"{b:.2f}" for b in map(c.frames_per_batch, (0, 1))),
                    c.runs,
                    *("" if w is None else f"{w:.3f}" for w in map(c.wait_s, (0, 1))),
                ]
            )
    return path


def _choices_csv(v: Validation, path: Path) -> Path:
    """The sweep's figures, then the side-by-side medians, and each round's frames/s, CPU
    steal and host slowdown (`;`-separated)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        side = [f"{c.replace('-', '_')}_side_fps" for c in CONTENDERS]
        rounds = [f"{c.replace('-', '_')}_{what}" for what in ROUND_COLUMNS for c in CONTENDERS]
        w.writerow(
            [
                "uplink",
                "chosen",
                "predicted_fps",
                "measured_fps",
                "oracle_cut",
                "oracle_fps",
                "edge_only_fps",
                "cloud_only_fps",
                "of_oracle_in_sweep",
                *side,
                "of_oracle",
                *rounds,
            ]
        )
        for c in v.choices:
            w.writerow(
                [
                    c.uplink,
                    c.chosen,
                    f"{c.predicted_fps:.3f}",
                    f"{c.measured_fps:.3f}",
                    c.oracle_cut,
                    f"{c.oracle_fps:.3f}",
                    f"{c.edge_only_fps:.3f}",
                    f"{c.cloud_only_fps:.3f}",
                    f"{c.of_oracle_in_sweep:.4f}",
                    *(f"{c.fps(name):.3f}" for name in CONTENDERS),
                    f"{c.of_oracle:.4f}",
                    *(
                        ";".join("" if x is None else f"{x:.3f}" for x in runs.get(name, ()))
                        for runs in (c.rounds, c.rounds_steal, c.rounds_slowdown)
                        for name in CONTENDERS
                    ),
                ]
            )
    return path


def _passes(v: Validation) -> str:
    if v.repeats == 1:
        return ""
    return f", every cut in {v.repeats} passes (its figures the medians of its runs)"


def _md(v: Validation, out: Path) -> Path:
    links = ", ".join(f"{u} (measured {v.links[u] / 1e6:.2f} Mbit/s)" for u in v.uplinks)
    lines = [
        f"# Cost model validation: {v.model}, edge {v.edge_cpu} CPU, batch {v.batch}",
        "",
        f"Uplinks {links}; measured in {v.seconds / 60:.1f} min{_passes(v)}.",
        "",
        *[f"- {line}" for line in headline(v)],
        "",
        "## Plan auto vs the oracle",
        "",
        "Measured fps: the median of the side-by-side rounds (the four plans one after "
        "another, each round), where there are any; the sweep's figure otherwise "
        "(choices.csv has both, and each round).",
        "",
        "| uplink | chosen | predicted fps | measured fps | oracle cut | oracle fps | "
        "of oracle | edge-only fps | cloud-only fps | of oracle in the sweep |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in v.choices:
        lines.append(
            f"| {c.uplink} | {_cell(c.chosen)} | {c.predicted_fps:.1f} | {c.fps('chosen'):.1f} | "
            f"{c.oracle_cut} | {c.fps('oracle'):.1f} | {c.of_oracle:.0%} | "
            f"{c.fps('edge-only'):.1f} | {c.fps('cloud-only'):.1f} | "
            f"{c.of_oracle_in_sweep:.0%} ({c.measured_fps:.1f} / {c.oracle_fps:.1f}) |"
        )
    lines += [
        "",
        "## Every cut: predicted vs measured",
        "",
        "Stage compute: ONNX Runtime CPU ms per frame (stage metrics), over min(threads, "
        "the tier's CPUs) as the profile counts it: in full micro-batches where they hold "
        "half a stage's frames or more, else over all its batches, and predicted for the "
        "same batch sizes (a stage that is not the bottleneck takes frames as they come; "
        "frames per batch in cuts.csv), from the profile's timings after idle for a stage "
        "predicted to wait for its input (10% room over the pipeline's rate), else from "
        "its busy ones. "
        "Throughput: frames/s once the pipeline is full (the answers after the first "
        "micro-batch's). * = the run did not finish. Steal: the share of the host's CPU "
        "the hypervisor took during the run. Host: the share of the host's CPUs (of their "
        f"time not stolen) busy during it; over {HOST_BUSY:.0%}, the host may have been "
        "the limit. Slow: the host's time for the whole model on one thread during the run, "
        "over its time while the profiles were measured. "
        "Predictions are calibrated where the headline says so (the profiles' own figures, "
        "and theirs at each run's host speed, in cuts.csv).",
        "",
        "| cut | uplink | edge ms pred / meas | err | cloud ms pred / meas | err | "
        "fps pred / meas | err | limited by (predicted) | steal | host | slow |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cc in v.cuts:
        me, mc = cc.measured_ms
        lines.append(
            f"| {cc.cut} | {cc.uplink} | {cc.predicted_ms[0]:.2f} / "
            f"{'-' if me is None else f'{me:.2f}'} | {_pct(cc.ms_error(0))} | "
            f"{cc.predicted_ms[1]:.2f} / {'-' if mc is None else f'{mc:.2f}'} | "
            f"{_pct(cc.ms_error(1))} | {cc.predicted_fps:.1f} / {cc.measured_fps:.1f}"
            f"{'' if cc.complete else '*'} | {_pct(cc.fps_error)} | {cc.bottleneck} | "
            f"{'-' if cc.steal is None else f'{cc.steal:.0%}'} | "
            f"{'-' if cc.host_busy is None else f'{cc.host_busy:.0%}'} | "
            f"{'-' if cc.slowdown is None else f'x{cc.slowdown:.2f}'} |"
        )
    path = out / "validation.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot(v: Validation, out: Path) -> list[Path]:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5))
    for uplink in v.uplinks:
        rows = [c for c in v.cuts if c.uplink == uplink]
        ax1.scatter([c.measured_fps for c in rows], [c.predicted_fps for c in rows], label=uplink)
    top = max([c.measured_fps for c in v.cuts] + [c.predicted_fps for c in v.cuts] + [1.0])
    ax1.plot([0, top], [0, top], "k--", lw=0.8)
    ax1.set(xlabel="measured frames/s", ylabel="predicted frames/s", title="throughput per cut")
    ax1.legend()
    for stage, name in ((0, "edge"), (1, "cloud")):
        pts = [
            (c.measured_ms[stage], c.predicted_ms[stage]) for c in v.cuts if c.measured_ms[stage]
        ]
        ax2.scatter([m for m, _ in pts], [p for _, p in pts], label=name)
    top = max([c.predicted_ms[0] for c in v.cuts] + [c.predicted_ms[1] for c in v.cuts] + [1.0])
    ax2.plot([0, top], [0, top], "k--", lw=0.8)
    ax2.set(xlabel="measured ms/frame", ylabel="predicted ms/frame", title="stage compute")
    ax2.legend()
    fig.tight_layout()
    path = out / "validation.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
