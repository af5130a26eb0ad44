"""Measuring a deployed Kafka pipeline on the emulated tiers.

The edge tier's stages (and, for cloud-only, the camera: the frame producer) run inside
the testbed's namespace and CPU quota; everything else runs on the host. Frames from the
host reach the edge stage over the unshaped downlink, as if the camera were attached to
the edge device; whatever the edge sends crosses the shaped uplink.

- throughput: N frames go in as fast as the producer can send them; the figure is the
  rate once the pipeline is full (`steady_fps`: the answers after the first micro-batch's
  over the time since). (Results arrive in bursts when a slow link carries big producer
  batches, so a "steady" rate between quantiles of the results would measure a burst.)
  A run the time budget cuts short is marked incomplete: a lower bound. Each run reports
  the CPU steal during it (`steal`): the hypervisor's, which slows a run from outside;
  and how busy the host's CPUs were (`host_busy`): busy throughout, the host, shared by
  the cloud tier, the broker, this benchmark and the edge's quota, may be what limited it;
- latency: frames paced at half that rate; capture -> result produced, steady state.

Both cameras send a few warm-up frames first, acknowledged before the measured ones, so
a fresh producer's start-up (an idempotent producer waits ~0.5 s for its id) stays out.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesplit.bench.measure import percentiles
from edgesplit.config import KafkaSettings
from edgesplit.consumers.results import Answer, ResultsSummary, read_results
from edgesplit.kafka.admin import delete_topics
from edgesplit.kafka.io import read_to_end
from edgesplit.log import get_logger
from edgesplit.orchestrator import deploy as dep
from edgesplit.orchestrator.plan import Plan
from edgesplit.orchestrator.steal import CpuClock, busy_since, steal_since
from edgesplit.producers.sources import Sample
from edgesplit.producers.stream import stream
from edgesplit.schemas.encoding import TensorEncoding
from edgesplit.schemas.records import now_us

log = get_logger("bench.kafka")
WARMUP_FRAMES = 3
CAMERA_START_S = 30.0  # an edge camera's process starts on the edge's CPU quota first
BURST_US = 2000  # answers stamped this close (whole ms) came out together
STOP_S = 0.5  # a benchmark deletes its topics afterwards: no need to wait for a flush


@dataclass(frozen=True)
class Where:
    """Where the camera (frame producer) is, and how edge processes reach the broker."""

    placements: dict[str, dep.Placement]
    producer_on_edge: bool = False
    frame_encoding: str = "raw"


@dataclass(frozen=True)
class RunFigures:
    answered: int
    throughput_fps: float
    complete: bool
    steal: float | None = None  # the share of the host's CPU time stolen during the run
    host_busy: float | None = None  # the share of the rest its CPUs were busy (`steal`)
    slowdown: float | None = None  # the host's, just before the run (`bench.speed`)


@contextmanager
def deployed(
    plan_path: Path, plan: Plan, settings: KafkaSettings, state: Path, where: Where
) -> Iterator[dep.Deployment]:
    d = dep.deploy(plan_path, settings, state, placements=where.placements, wait_s=120)
    try:
        yield d
    finally:
        dep.stop_deployment(state, d.name, timeout_s=STOP_S, expect_kill=True)
        delete_topics(settings, [t for t in plan.topic_names if t != plan.topics.metrics])


def _produce(
    settings: KafkaSettings,
    plan: Plan,
    plan_path: Path,
    samples: Sequence[Sample],
    where: Where,
    run_id: str,
    rate_hz: float | None,
    seed: int,
) -> subprocess.Popen[bytes] | None:
    """Send frames from the host (in this process), or start the edge camera process."""
    if not where.producer_on_edge:
        warm = list(samples[:WARMUP_FRAMES])  # sent and acknowledged before the measured ones
        stream(
            settings,
            plan.topics.frames,
            [*warm, *samples],
            rate_hz=rate_hz,
            run_id=run_id,
            max_message_bytes=plan.topics.frames_max_message_bytes,
            encoding=TensorEncoding.parse(where.frame_encoding),
            warmup=len(warm),
        )
        return None
    edge = where.placements["edge"]
    source = "mnist" if len(plan.model.input.shape) == 2 else "photos"
    cmd = [
        sys.executable,
        "-m",
        "edgesplit",
        "--log-level",
        "error",
        "stream",
        "--plan",
        str(plan_path),
        "--source",
        source,
        "--count",
        str(len(samples)),
        "--seed",
        str(seed),
        "--run-id",
        run_id,
        "--encoding",
        where.frame_encoding,
        "--warmup",
        str(WARMUP_FRAMES),
        "--preload",
        "--rate",
        str(rate_hz or 0),
        "--bootstrap",
        edge.bootstrap or "",
    ]
    return subprocess.Popen(edge.wrap(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _collect(
    settings: KafkaSettings, plan: Plan, run_id: str, count: int, budget_s: float
) -> list[Answer]:
    summary = ResultsSummary()
    read_results(
        settings,
        [plan.topics.results],
        count=count,
        timeout_s=budget_s,
        summary=summary,
        accept=lambda r: r.frame_id.startswith(f"{run_id}:"),
    )
    return list(summary.answers.values())


def throughput(
    settings: KafkaSettings,
    plan: Plan,
    plan_path: Path,
    samples: Sequence[Sample],
    where: Where,
    *,
    budget_s: float,
    seed: int,
) -> RunFigures:
    run_id = uuid.uuid4().hex[:8]
    started, clock = time.monotonic(), CpuClock.now()
    camera = _produce(settings, plan, plan_path, samples, where, run_id, None, seed)
    left = budget_s - (time.monotonic() - started) + (CAMERA_START_S if camera else 0.0)
    answers = _collect(settings, plan, run_id, len(samples), max(left, 1.0))
    complete = len(answers) == len(samples)
    _finish(camera, timeout_s=30.0 if complete else 0.0)
    stolen, busy = steal_since(clock), busy_since(clock)
    if not answers:
        return RunFigures(0, 0.0, False, stolen, busy)
    skip = max(s.batch.max_size for s in plan.stages)
    fps = steady_fps(
        sorted(a.produced_us for a in answers),
        min(a.capture_us for a in answers),
        None if complete else now_us(),
        skip,
    )
    return RunFigures(len(answers), fps, complete, stolen, busy)


def steady_fps(
    produced_us: Sequence[int], first_capture_us: int, end_us: int | None, skip: int
) -> float:
    """Frames/s once the pipeline is full: the answers produced after the `skip`-th's (the
    end of a micro-batch) over the time since. What is ahead of the first frames (the
    warm-up frames, a backlog on a slow link, the pipeline filling) is then behind the
    clock's start; from the first capture, 3 warm-up frames on a 5 Mbit/s link had cost
    8-frame runs 38%.

    A slow link delivers a producer request of several records at once: the answers come
    in bursts, and the clock starts at the end of the `skip`-th answer's burst (answers
    at most BURST_US apart), or the rest of that burst counts as "after" it: 9 frames in
    bursts of 3 had read as 1.7x the link. `produced_us` sorted (Kafka timestamps: whole
    ms); `end_us` when the run did not finish. A stream without a gap after the `skip`-th
    counts from the `skip`-th; fewer answers than `skip`: all of them over the span from
    the first capture."""
    end = end_us if end_us is not None else produced_us[-1]
    n = len(produced_us)
    if n > skip:
        start = skip - 1
        while start + 1 < n and produced_us[start + 1] - produced_us[start] <= BURST_US:
            start += 1
        if start == n - 1:  # no gap after the skip-th: a stream, not bursts
            start = skip - 1
        if end > produced_us[start]:
            return (n - 1 - start) / ((end - produced_us[start]) / 1e6)
    return len(produced_us) / max((end - first_capture_us) / 1e6, 1e-6)


def latency(
    settings: KafkaSettings,
    plan: Plan,
    plan_path: Path,
    samples: Sequence[Sample],
    where: Where,
    *,
    rate_hz: float,
    budget_s: float,
    seed: int,
    frames: int,
) -> tuple[float, float] | None:
    """p50/p95 capture -> result at `rate_hz` over up to `frames` frames (at least 3, at
    most what the budget holds at that rate); None if fewer than 3 came back."""
    count = int(min(frames, len(samples), max(3, rate_hz * budget_s)))
    run_id = uuid.uuid4().hex[:8]
    camera = _produce(settings, plan, plan_path, samples[:count], where, run_id, rate_hz, seed)
    answers = _collect(settings, plan, run_id, count, budget_s + count / rate_hz)
    _finish(camera, timeout_s=5.0)
    if len(answers) < 3:
        return None
    return percentiles([a.latency_ms for a in answers])


def _finish(camera: subprocess.Popen[bytes] | None, timeout_s: float = 30.0) -> None:
    if camera is None:
        return
    try:
        camera.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        camera.kill()
        camera.wait()
    if camera.returncode not in (0, -9):
        err = camera.stderr.read().decode(errors="replace") if camera.stderr else ""
        log.warning("edge_camera_failed", code=camera.returncode, stderr=err[-500:])


def uplink_bytes(settings: KafkaSettings, topic: str, limit: int = 20) -> float:
    """Mean size of the records that crossed the uplink (read back from their topic)."""
    sizes = [len(m.value() or b"") for m in read_to_end(settings, topic, limit=limit)]
    return float(np.mean(sizes)) if sizes else 0.0
