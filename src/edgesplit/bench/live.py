"""`edgesplit bench live`: the orchestrator changing its mind on the emulated tiers.

Agents run the tiers (the edge agent, and so its stages, inside the testbed), a link
monitor on the edge refreshes the edge's link measurement, the orchestrator runs its
loop, and a camera streams real frames at a steady rate, following the pipeline's newest
plan version. Two experiments:

- resplit: after `before_s` the uplink drops (e.g. 100 -> 5 Mbit/s). The orchestrator
  should publish a new version; the camera moves to it at a frame boundary; the old one
  drains and is retired. Checked: every frame answered exactly once, by frame id, across
  every version's results topic; how long the decision took; throughput afterwards;
- scale: one stage is deliberately slow (`EDGESPLIT_SLOW_STAGE`), re-splitting is off;
  its lag grows, the orchestrator adds a replica, the lag drains. By default stage 1
  (the cloud's) sleeps SLOW_INTERVALS of the camera's frame interval per frame on top of its
  model (`default_slow`): too slow alone at any rate and on any host, fast enough with
  a second replica. A fixed 20 ms a frame left MobileNetV2's cloud stage half busy at
  20 Hz on a fast day, and nothing to scale.

Writes timeline.csv (every orchestrator event), throughput.csv (answers per second per
version), a plot and live.md.
"""

from __future__ import annotations

import csv
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesplit.bench.testbed import Testbed, TestbedConfig
from edgesplit.config import KafkaSettings
from edgesplit.consumers.results import read_results
from edgesplit.errors import ConfigError, DecodeError
from edgesplit.kafka.io import read_to_end
from edgesplit.log import get_logger
from edgesplit.orchestrator import control
from edgesplit.orchestrator.deploy import Placement
from edgesplit.orchestrator.live import Event, Orchestrator, Settings, timeline_rows
from edgesplit.orchestrator.local_agents import start_local_agents, stop_local_agents
from edgesplit.orchestrator.profile import TierProfile
from edgesplit.orchestrator.profiles_topic import publish_profile, read_profiles
from edgesplit.orchestrator.steal import CpuClock, steal_since
from edgesplit.producers.sources import Sample
from edgesplit.producers.stream import stream
from edgesplit.schemas.codec import decode_result

log = get_logger("bench.live")
Progress = Callable[[str], None]


@dataclass
class LiveRun:
    kind: str
    pipeline: str
    rate_hz: float
    sent: int = 0
    answered: int = 0  # distinct frames
    duplicates: int = 0
    missing: int = 0
    change_at: float | None = None  # when the uplink changed (resplit)
    started_at: float = 0.0
    steal: float | None = None  # the share of the host's CPU stolen during the run
    events: list[Event] = field(default_factory=list)
    answers: list[tuple[float, int]] = field(default_factory=list)  # (produced s, version)

    def first(self, kind: str, after: float = 0.0) -> Event | None:
        return next((e for e in self.events if e.kind == kind and e.at >= after), None)


@dataclass
class Experiment:
    kafka: KafkaSettings
    testbed: Testbed
    settings: Settings
    profiles: dict[str, TierProfile]
    frames: Sequence[Sample]
    rate_hz: float
    edge_cpu: float = 0.5
    uplink: str = "100mbit"
    link_every_s: float = 4.0
    sensors: int = 4  # cameras: each keeps its frames on one partition, in order
    progress: Progress = lambda _: None


def run_resplit(
    x: Experiment, *, before_s: float, after_s: float, drop_to: str, settle_s: float = 240
) -> LiveRun:
    def during(run: LiveRun) -> None:
        time.sleep(before_s)
        x.progress(f"uplink {x.uplink} -> {drop_to}")
        x.testbed.set(uplink=drop_to)
        run.change_at = time.time()

    return _run(x, "resplit", before_s + after_s, during, settle_s)


SLOW_INTERVALS = 1.25  # of the camera's frame interval, the slow stage sleeps per frame


def default_slow(rate_hz: float, stage: int = 1) -> str:
    """The `STAGE:MS` that makes `stage` fall behind a camera at `rate_hz` on its own and
    keep up with a second replica."""
    return f"{stage}:{SLOW_INTERVALS * 1000 / rate_hz:.0f}"


def run_scale(x: Experiment, *, seconds: float, slow: str, settle_s: float = 120) -> LiveRun:
    os.environ["EDGESPLIT_SLOW_STAGE"] = slow  # the agents' stages inherit it
    try:
        return _run(x, "scale", seconds, lambda _: None, settle_s)
    finally:
        os.environ.pop("EDGESPLIT_SLOW_STAGE", None)


def _run(
    x: Experiment,
    kind: str,
    seconds: float,
    during: Callable[[LiveRun], None],
    settle_s: float,
) -> LiveRun:
    run = LiveRun(kind, x.settings.pipeline, x.rate_hz)
    x.testbed.up(TestbedConfig(edge_cpu=x.edge_cpu, uplink=x.uplink))
    before = CpuClock.now()
    try:
        with tempfile.TemporaryDirectory(prefix="edgesplit-live-") as tmp:
            _with_testbed(x, run, Path(tmp), seconds, during, settle_s)
    finally:
        run.steal = steal_since(before)
        x.testbed.down()
    return run


def _with_testbed(
    x: Experiment,
    run: LiveRun,
    tmp: Path,
    seconds: float,
    during: Callable[[LiveRun], None],
    settle_s: float,
) -> None:
    tb = x.testbed.state()
    assert tb is not None
    edge = Placement(wrap=x.testbed.wrap, bootstrap=tb.edge_bootstrap)
    for profile in x.profiles.values():
        publish_profile(x.kafka, profile)
    state = tmp / "state"
    x.progress("starting the agents (the edge one in the testbed) and the link monitor")
    start_local_agents(list(x.settings.chain), x.kafka, state, {"edge": edge})
    since = time.time()
    monitor = _link_monitor(x, edge)
    _wait_for_link(x, since)
    orch = Orchestrator(x.kafka, x.settings, on_event=lambda e: _progress(x, e))
    stop = threading.Event()
    loop = threading.Thread(target=orch.run, args=(stop,), name="orchestrator", daemon=True)
    try:
        loop.start()
        with control.PlanFollower(x.kafka) as follower:
            follower.wait_for(x.settings.pipeline, 1, timeout_s=120)
            follow = follower.frames_topic(x.settings.pipeline)
            _wait_until_answering(x, follow(), tmp)
            count = int(seconds * x.rate_hz)
            frames = list(itertools.islice(itertools.cycle(x.frames), count))
            run.sent = count
            run_id = uuid.uuid4().hex[:8]
            x.progress(f"streaming {count} frames at {x.rate_hz:g} Hz")
            run.started_at = time.time()
            side = threading.Thread(target=during, args=(run,), daemon=True)
            side.start()
            stream(
                x.kafka, follow(), frames, rate_hz=x.rate_hz, run_id=run_id, follow=follow,
                sensors=x.sensors,
            )  # fmt: skip
            side.join()
            x.progress("waiting for every frame's answer and the old versions to retire")
            _settle(orch, settle_s, lambda: len(_answers(x.kafka, run.pipeline, run_id)), count)
    finally:
        stop.set()
        loop.join(timeout=60)
        monitor.terminate()
        monitor.wait(timeout=30)
        stop_local_agents(state)
    run.events = list(orch.events)
    _count(x.kafka, run, run_id)


def _progress(x: Experiment, e: Event) -> None:
    if e.kind != "observed":
        x.progress(f"v{e.version} {e.kind}: {e.detail}")


def _link_monitor(x: Experiment, edge: Placement) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "edgesplit",
        "profile",
        "link",
        x.settings.model,
        "--tier",
        "edge",
        "--every",
        str(x.link_every_s),
        "--bootstrap",
        edge.bootstrap or x.kafka.bootstrap_servers,
    ]
    return subprocess.Popen(
        edge.wrap(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_for_link(x: Experiment, since: float, timeout_s: float = 60.0) -> None:
    """The edge's first link measurement on the profiles topic (the plan depends on it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        edge = read_profiles(x.kafka, x.settings.model).get("edge")
        if edge is not None and edge.link is not None and edge.link.measured_at >= since:
            return
        time.sleep(0.5)
    raise ConfigError(f"the edge's link monitor published nothing in {timeout_s:g} s")


def _wait_until_answering(x: Experiment, frames_topic: str, tmp: Path) -> None:
    """A few frames through version 1 before the clock starts (its stages are up)."""
    x.progress("waiting for the first version's stages to answer")
    warm = list(x.frames[:4])
    run_id = f"ready{uuid.uuid4().hex[:6]}"
    stream(x.kafka, frames_topic, warm, run_id=run_id)
    plan = control.newest_active(x.kafka, x.settings.pipeline)
    assert plan is not None
    read_results(
        x.kafka,
        [plan.plan().topics.results],
        count=len(warm),
        timeout_s=180,
        accept=lambda r: r.frame_id.startswith(f"{run_id}:"),
    )


def _settle(orch: Orchestrator, timeout_s: float, answered: Callable[[], int], sent: int) -> None:
    """Until every version but the newest is retired and every frame sent is answered (the
    newest version may still be working off a backlog when the camera stops)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        published = sum(e.kind == "published" for e in orch.events)
        retired = sum(e.kind == "retired" for e in orch.events)
        if retired >= published - 1 and answered() >= sent:
            return
        time.sleep(2.0)
    log.warning("run_not_settled", after_s=timeout_s)


def _answers(kafka: KafkaSettings, pipeline: str, run_id: str) -> list[tuple[str, float, int]]:
    """(frame id, answered at, plan version) of every answer of the run, across every
    version's results topic."""
    out = []
    for (name, _), record in control.read_plans(kafka).items():
        if name != pipeline:
            continue
        for msg in read_to_end(kafka, record.plan().topics.results):
            try:
                result = decode_result(msg.value() or b"")
            except DecodeError:
                continue
            if result.frame_id.startswith(f"{run_id}:"):
                out.append((result.frame_id, msg.timestamp()[1] / 1000, result.plan_version))
    return out


def _count(kafka: KafkaSettings, run: LiveRun, run_id: str) -> None:
    """Every answer of the run, by frame id: answered, duplicated, missing."""
    seen: Counter[str] = Counter()
    for frame_id, at, version in _answers(kafka, run.pipeline, run_id):
        seen[frame_id] += 1
        run.answers.append((at, version))
    run.answered = len(seen)
    run.duplicates = sum(n - 1 for n in seen.values())
    run.missing = run.sent - run.answered


# --- files ---------------------------------------------------------------------------------


def per_second(run: LiveRun) -> list[dict[str, Any]]:
    if not run.answers:
        return []
    t0 = run.started_at
    counts: Counter[tuple[int, int]] = Counter((int(t - t0), v) for t, v in run.answers)
    versions = sorted({v for _, v in counts})
    last = max(s for s, _ in counts)
    return [
        {"second": s, **{f"v{v}": counts.get((s, v), 0) for v in versions}}
        for s in range(0, last + 1)
    ]


def write(run: LiveRun, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = timeline_rows(run.events)
    if rows:
        path = out / "timeline.csv"
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        paths.append(path)
    secs = per_second(run)
    if secs:
        path = out / "throughput.csv"
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(secs[0]))
            w.writeheader()
            w.writerows(secs)
        paths.append(path)
    paths.append(_plot(run, out / f"{run.kind}.png"))
    path = out / f"{run.kind}.md"
    path.write_text("\n".join(summary(run)) + "\n")
    paths.append(path)
    return paths


def summary(run: LiveRun) -> list[str]:
    lines = [
        f"# {run.kind}: pipeline {run.pipeline}, {run.sent} frames at {run.rate_hz:g} Hz",
        "",
        f"- answered {run.answered}/{run.sent} distinct frames, {run.duplicates} duplicates, "
        f"{run.missing} missing",
    ]
    if run.steal is not None:
        lines.append(
            f"- the hypervisor stole {run.steal:.0%} of the host's CPU during the run "
            "(CPU steal: time the stages and the shaped uplink wanted and did not get)"
        )
    t0 = run.started_at
    for e in run.events:
        if e.kind != "observed":
            lines.append(f"- t={e.at - t0:+.1f}s v{e.version} {e.kind}: {e.detail}")
    if run.change_at is not None:
        lines.append(f"- uplink changed at t={run.change_at - t0:+.1f}s")
        replan = run.first("published", run.change_at)
        if replan is not None:
            lines.append(
                f"- new plan published {replan.at - run.change_at:.1f} s after the change "
                f"(predicted {replan.figures.get('predicted_fps', 0):.1f} frames/s)"
            )
            after = [t for t, v in run.answers if v == replan.version and t > replan.at + 10]
            if (rate := _rate(after)) is not None:
                lines.append(
                    f"- v{replan.version} answered {rate:.1f} frames/s from 10 s after it was "
                    f"published (offered {run.rate_hz:g})"
                )
            retired = [e for e in run.events if e.kind == "retired" and e.at > replan.at]
            alone = [t for t, v in run.answers if v == replan.version and retired
                     and t > retired[-1].at]  # fmt: skip
            if (rate := _rate(alone)) is not None:
                lines.append(
                    f"- v{replan.version} answered {rate:.1f} frames/s once the old version "
                    f"had retired (its own tier to itself; {len(alone)} answers)"
                )
    if run.kind == "scale" and not any(e.kind == "scaled" for e in run.events):
        lines.append("- no replica was added: no stage fell behind (a larger --slow makes one)")
    return lines


def _rate(times: Sequence[float]) -> float | None:
    """Answers per second over their span; None for 10 or fewer."""
    return (len(times) - 1) / (max(times) - min(times)) if len(times) > 10 else None


def _plot(run: LiveRun, path: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t0 = run.started_at
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    secs = per_second(run)
    for key in [k for k in (secs[0] if secs else {}) if k != "second"]:
        ax1.plot([r["second"] for r in secs], [r[key] for r in secs], label=f"answers/s {key}")
    for e in run.events:
        if e.kind in ("published", "retired", "scaled"):
            ax1.axvline(e.at - t0, ls="--", lw=0.8, color="gray")
            ax1.text(e.at - t0, ax1.get_ylim()[1] * 0.95, f"{e.kind} v{e.version}", fontsize=7)
        if e.kind == "published" and "predicted_fps" in e.figures:
            ax1.axhline(float(e.figures["predicted_fps"]), ls=":", lw=0.8, color="green")
    if run.change_at is not None:
        ax1.axvline(run.change_at - t0, color="red", lw=1.2, label="uplink change")
    ax1.set(ylabel="frames/s")
    ax1.legend(fontsize=8)
    obs = [e for e in run.events if e.kind == "observed"]
    for key in sorted({k for e in obs for k in e.figures if k.startswith(("lag_", "uplink_"))}):
        pts = [(e.at - t0, float(e.figures[key])) for e in obs if key in e.figures]
        scale = 1e6 if key.startswith("uplink_") else 1.0
        label = f"{key} (Mbit/s)" if key.startswith("uplink_") else f"{key} (records)"
        ax2.plot([p[0] for p in pts], [p[1] / scale for p in pts], label=label)
    ax2.set(xlabel="seconds since the stream started", ylabel="lag / link")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
