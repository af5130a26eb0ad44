"""Metrics as files: the CSVs the Raspberry Pi split-inference system writes, and plots.

- `batch_metrics_<run>.csv`: one row per batch a stage ran (size, wait, compute).
- `device_metrics_<run>.csv`: one row per stage process (device): images per second,
  utilization, idle time, CPU and memory.
- `pipeline_metrics_<run>.csv`: one row per stage, per hop and end to end: throughput,
  utilization, bubble time, latency percentiles.
- `throughput.png`, `latency.png`, `utilization.png`: the same over time.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.consumers.metrics import PipelineMetrics
from edgesplit.errors import ConfigError

BATCH_FIELDS = (
    "timestamp_us",
    "pipeline",
    "plan_version",
    "rank",
    "tier",
    "device_id",
    "batch_size",
    "wait_ms",
    "compute_ms",
    "compute_ms_per_image",
)
DEVICE_FIELDS = (
    "device_id",
    "hostname",
    "pid",
    "rank",
    "tier",
    "seconds",
    "frames_in",
    "frames_out",
    "dead_letters",
    "images_per_second",
    "avg_batch_size",
    "avg_compute_ms_per_image",
    "utilization_percent",
    "idle_percent",
    "avg_cpu_usage_percent",
    "avg_memory_usage_mb",
    "bytes_in",
    "bytes_out",
)
PIPELINE_FIELDS = (
    "kind",
    "name",
    "rank",
    "tier",
    "frames",
    "throughput_fps",
    "utilization_percent",
    "bubble_percent",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)


def _write(path: Path, fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            )
    return path


def write_csvs(report: PipelineMetrics, out: Path, run: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    batches = (
        {
            "timestamp_us": s.end_us,
            "pipeline": w.pipeline,
            "plan_version": w.plan_version,
            "rank": w.stage,
            "tier": w.tier,
            "device_id": f"{w.tier}/stage-{w.stage}/{w.instance}",
            "batch_size": s.size,
            "wait_ms": s.wait_ms,
            "compute_ms": s.compute_ms,
            "compute_ms_per_image": s.compute_ms / max(s.size, 1),
        }
        for w in report.windows
        for s in w.batch_samples
    )
    return [
        _write(out / f"batch_metrics_{run}.csv", BATCH_FIELDS, batches),
        _write(out / f"device_metrics_{run}.csv", DEVICE_FIELDS, _device_rows(report)),
        _write(out / f"pipeline_metrics_{run}.csv", PIPELINE_FIELDS, _pipeline_rows(report)),
    ]


def _device_rows(report: PipelineMetrics) -> Iterable[dict[str, Any]]:
    by_instance: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for w in report.windows:
        by_instance[(w.stage, w.instance)].append(w)
    for (stage, instance), ws in sorted(by_instance.items()):
        wall = (max(w.window_end_us for w in ws) - min(w.window_start_us for w in ws)) / 1e6
        wall = max(wall, 1e-9)
        frames = sum(w.batch_frames for w in ws) or 1
        host, _, pid = instance.rpartition(":")
        yield {
            "device_id": f"{ws[0].tier}/stage-{stage}/{instance}",
            "hostname": host,
            "pid": pid,
            "rank": stage,
            "tier": ws[0].tier,
            "seconds": wall,
            "frames_in": sum(w.frames_in for w in ws),
            "frames_out": sum(w.frames_out for w in ws),
            "dead_letters": sum(w.dead_letters for w in ws),
            "images_per_second": sum(w.frames_out for w in ws) / wall,
            "avg_batch_size": frames / (sum(w.batches for w in ws) or 1),
            "avg_compute_ms_per_image": 1000 * sum(w.compute_s for w in ws) / frames,
            "utilization_percent": 100 * sum(w.compute_s for w in ws) / wall,
            "idle_percent": 100 * sum(w.wait_s for w in ws) / wall,
            "avg_cpu_usage_percent": 100 * sum(w.cpu_s for w in ws) / wall,
            "avg_memory_usage_mb": float(np.mean([w.rss_bytes for w in ws])) / 1e6,
            "bytes_in": sum(w.bytes_in for w in ws),
            "bytes_out": sum(w.bytes_out for w in ws),
        }


def _pipeline_rows(report: PipelineMetrics) -> Iterable[dict[str, Any]]:
    for s in report.stages:
        yield {
            "kind": "stage",
            "name": f"stage-{s.stage}",
            "rank": s.stage,
            "tier": s.tier,
            "frames": s.frames_out,
            "throughput_fps": s.throughput_fps,
            "utilization_percent": 100 * s.utilization,
            "bubble_percent": 100 * s.bubble,
        }
    for h in report.hops:
        yield {
            "kind": "hop",
            "name": h.name,
            "frames": h.count,
            "p50_ms": h.p50_ms,
            "p95_ms": h.p95_ms,
            "p99_ms": h.p99_ms,
        }
    e = report.end_to_end
    yield {
        "kind": "end_to_end",
        "name": e.name,
        "frames": e.count,
        "p50_ms": e.p50_ms,
        "p95_ms": e.p95_ms,
        "p99_ms": e.p99_ms,
    }


def write_plots(report: PipelineMetrics, out: Path, *, bin_s: float = 2.0) -> list[Path]:
    """PNG plots of throughput, latency percentiles and utilization over time."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("plots need matplotlib: pip install 'edgesplit[bench]'") from exc
    out.mkdir(parents=True, exist_ok=True)
    if not report.windows and not report.timed:
        return []
    t0 = min(
        [w.window_start_us for w in report.windows] + [t.result.capture_us for t in report.timed]
    )
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4))
    for stage in sorted({w.stage for w in report.windows}):
        ws = sorted((w for w in report.windows if w.stage == stage), key=lambda w: w.window_end_us)
        ax.plot(
            [(w.window_end_us - t0) / 1e6 for w in ws],
            [w.frames_out / w.seconds for w in ws],
            marker=".",
            label=f"stage {stage}",
        )
    ax.set(
        xlabel="time (s)",
        ylabel="frames/s",
        title=f"{report.pipeline} v{report.plan_version}: throughput per stage",
    )
    ax.legend()
    paths.append(_save(fig, out / "throughput.png", plt))

    fig, ax = plt.subplots(figsize=(8, 4))
    if report.timed:
        ts = np.array([(t.produced_us - t0) / 1e6 for t in report.timed])
        lat = np.array([(t.produced_us - t.result.capture_us) / 1000 for t in report.timed])
        edges = np.arange(0, ts.max() + bin_s, bin_s)
        centers, pct = [], []
        for lo in edges:
            sel = lat[(ts >= lo) & (ts < lo + bin_s)]
            if sel.size:
                centers.append(lo + bin_s / 2)
                pct.append(np.percentile(sel, [50, 95, 99]))
        if pct:
            arr = np.array(pct)
            for i, q in enumerate(("p50", "p95", "p99")):
                ax.plot(centers, arr[:, i], marker=".", label=q)
            ax.legend()
    ax.set(xlabel="time (s)", ylabel="ms", title="end-to-end latency (capture -> result)")
    paths.append(_save(fig, out / "latency.png", plt))

    fig, ax = plt.subplots(figsize=(8, 4))
    for stage in sorted({w.stage for w in report.windows}):
        ws = sorted((w for w in report.windows if w.stage == stage), key=lambda w: w.window_end_us)
        ax.plot(
            [(w.window_end_us - t0) / 1e6 for w in ws],
            [100 * w.compute_s / w.seconds for w in ws],
            marker=".",
            label=f"stage {stage}",
        )
    ax.set(
        xlabel="time (s)",
        ylabel="% of wall time computing",
        ylim=(0, 105),
        title="utilization per stage",
    )
    ax.legend()
    paths.append(_save(fig, out / "utilization.png", plt))
    return paths


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
