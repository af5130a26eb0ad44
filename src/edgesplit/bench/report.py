"""A benchmark run's files: every measurement as CSV, a markdown summary, plots."""

from __future__ import annotations

import csv
from dataclasses import asdict, fields
from pathlib import Path

from edgesplit.bench.measure import Measurement
from edgesplit.bench.rates import parse_rate
from edgesplit.bench.runner import BenchRun
from edgesplit.errors import ConfigError
from edgesplit.orchestrator.steal import steal_summary

ORDER = ("oracle", "plan", "edge-only", "cloud-only", "cloud-only-jpeg", "rpc", "unsplit")


def write(run: BenchRun) -> list[Path]:
    out = run.out
    paths = [_csv(out / "measurements.csv", run.rows), _summary(run)]
    paths += _plots(run)
    return paths


def _csv(path: Path, rows: list[Measurement]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Measurement)])
        writer.writeheader()
        for r in rows:
            writer.writerow(asdict(r))
    return path


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _steal_line(rows: list[Measurement]) -> list[str]:
    figures = steal_summary(r.steal for r in rows)
    return [] if figures is None else [f"CPU steal during the throughput runs: {figures}.", ""]


def summary_rows(run: BenchRun, uplink: str) -> list[Measurement]:
    picked = [r for r in run.rows if r.uplink in (uplink, "") and r.strategy in ORDER]
    return sorted(picked, key=lambda r: ORDER.index(r.strategy))


def ratios(run: BenchRun, uplink: str) -> tuple[float, float] | None:
    """Kafka pipeline vs direct RPC at the same cut: (throughput ratio, p50 latency ratio)."""
    oracle = next((r for r in run.rows if r.strategy == "oracle" and r.uplink == uplink), None)
    rpc = next((r for r in run.rows if r.strategy == "rpc" and r.uplink == uplink), None)
    if oracle is None or rpc is None or not rpc.throughput_fps or not rpc.p50_ms:
        return None
    return (oracle.throughput_fps / rpc.throughput_fps, (oracle.p50_ms or 0.0) / rpc.p50_ms)


def _summary(run: BenchRun) -> Path:
    s = run.scenario
    lines = [
        f"# {s.name}: {s.model}, edge {s.edge_cpu} CPU, uplinks {', '.join(s.uplinks)}",
        "",
        f"{s.frames} real frames per throughput run, batch {s.batch}, activations {s.encoding};"
        f" measured in {run.seconds / 60:.1f} min. Throughput: steady state; latency: capture "
        "-> result at half that rate. KiB/frame: what crosses the uplink. * = the time "
        "budget ended the run (a lower bound). Steal: the share of the host's CPU the "
        "hypervisor took during the throughput run (a run that lost much of it reads slow).",
        "",
        *_steal_line(run.rows),
    ]
    uplinks = sorted({r.uplink for r in run.rows if r.uplink}, key=parse_rate, reverse=True)
    for uplink in uplinks:
        lines += [
            f"## uplink {uplink}",
            "",
            "| strategy | cut | frames/s | p50 ms | p95 ms | KiB/frame | steal | note |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in summary_rows(run, uplink):
            star = "" if r.complete else "*"
            lines.append(
                f"| {r.strategy} | {'' if r.cut is None else r.cut} | "
                f"{_fmt(r.throughput_fps)}{star} | {_fmt(r.p50_ms)} | {_fmt(r.p95_ms)} | "
                f"{_fmt(r.bytes_per_frame / 1024)} | {_pct(r.steal)} | {r.note} |"
            )
        ratio = ratios(run, uplink)
        if ratio:
            lines += [
                "",
                f"Kafka pipeline vs direct RPC at cut "
                f"{next(r.cut for r in run.rows if r.strategy == 'rpc' and r.uplink == uplink)}:"
                f" throughput {ratio[0]:.2f}x, p50 latency {ratio[1]:.2f}x.",
            ]
        lines.append("")
    cuts = sorted({r.cut for r in run.rows if r.strategy == "split" and r.cut is not None})
    if cuts:
        lines += [
            "## every single-tensor cut (frames/s)",
            "",
            "| cut | KiB raw | " + " | ".join(uplinks) + " |",
            "|---:|---:|" + "---:|" * len(uplinks),
        ]
        for c in cuts:
            cells = []
            for u in uplinks:
                m = next(
                    (r for r in run.rows if r.strategy == "split" and r.cut == c and r.uplink == u),
                    None,
                )
                cells.append(
                    "" if m is None else _fmt(m.throughput_fps) + ("" if m.complete else "*")
                )
            lines.append(
                f"| {c} | {_fmt(run.cut_bytes.get(c, 0) / 1024)} | " + " | ".join(cells) + " |"
            )
    path = run.out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plots(run: BenchRun) -> list[Path]:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("plots need matplotlib: pip install 'edgesplit[bench]'") from exc
    paths = []
    uplinks = sorted({r.uplink for r in run.rows if r.uplink}, key=parse_rate, reverse=True)
    split = [r for r in run.rows if r.strategy == "split"]
    if split:
        fig, ax = plt.subplots(figsize=(9, 4))
        for u in uplinks:
            pts = sorted((r.cut or 0, r.throughput_fps) for r in split if r.uplink == u)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=u)
        ax.set(
            xlabel="cut (nodes on the edge)",
            ylabel="frames/s",
            title=f"{run.scenario.model}: throughput of every single-tensor cut",
        )
        ax.legend(title="uplink")
        fig.tight_layout()
        paths.append(run.out / "cuts.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    fig, axes = plt.subplots(
        1, max(len(uplinks), 1), figsize=(4 * max(len(uplinks), 1), 4), squeeze=False
    )
    for ax, u in zip(axes[0], uplinks, strict=False):
        rows = summary_rows(run, u)
        ax.barh([r.strategy for r in rows], [r.throughput_fps for r in rows])
        ax.set(title=f"uplink {u}", xlabel="frames/s")
        ax.invert_yaxis()
    fig.tight_layout()
    paths.append(run.out / "strategies.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
