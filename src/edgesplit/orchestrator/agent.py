"""The agent: one per tier and machine, it runs what the plans topic says runs there.

It follows the plans topic; for every active version with stages on its tier it fetches
the stages' partitions from the artifacts topic into its state directory, next to the
plan's YAML (so `edgesplit stage run` finds and checks them exactly as after a local
deploy), and keeps the wanted number of `stage run` processes alive: a process that dies
is started again after a backoff; an extra one, or every one of a retired (or deleted)
version, gets SIGTERM, finishes its batch, stores its offsets and exits. Every few seconds
it sends a heartbeat (tier, host, CPUs, what runs) to the agents topic.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, EdgesplitError
from edgesplit.log import get_logger
from edgesplit.orchestrator import heartbeats
from edgesplit.orchestrator.artifacts import fetch_artifact
from edgesplit.orchestrator.control import Key, PlanFollower, PlanRecord
from edgesplit.orchestrator.deploy import HERE, Placement, spawn_edgesplit, spawn_stage
from edgesplit.orchestrator.heartbeats import read_agents
from edgesplit.orchestrator.plan import Plan, stage_model_path

__all__ = ["Agent", "read_agents", "spawn_agent"]

log = get_logger("agent")
STOP_GRACE_S = 30.0
_HEALTHY_AFTER_S = 60.0  # a replica that ran this long starts its backoff afresh
_MAX_BACKOFF_S = 30.0
_FETCH_RETRY_S = 5.0


@dataclass
class _Replica:
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    next_start: float = 0.0


@dataclass
class _Version:
    """One pipeline version with stages on this agent's tier."""

    record: PlanRecord
    plan: Plan
    folder: Path
    ready: bool = False
    retry_at: float = 0.0
    replicas: dict[int, list[_Replica]] = field(default_factory=dict)

    @property
    def plan_path(self) -> Path:
        return self.folder / "plan.yaml"


class Agent:
    """Runs the stages of `tier` that the plans topic asks for, until `run`'s stop is set."""

    def __init__(
        self,
        tier: str,
        settings: KafkaSettings,
        state: Path,
        placement: Placement = HERE,
        heartbeat_s: float = 2.0,
        *,
        pipelines: Collection[str] | None = None,
        log_level: str = "info",
    ) -> None:
        self.tier = tier
        self.settings = settings
        self.home = state / f"agent-{tier}"
        self.placement = placement
        self.heartbeat_s = heartbeat_s
        self.pipelines = set(pipelines) if pipelines is not None else None
        self.log_level = log_level
        self.host = socket.gethostname()
        self.log = log.bind(tier=tier, host=self.host)
        self._versions: dict[Key, _Version] = {}
        self._stopping: list[tuple[subprocess.Popen[bytes], float]] = []
        self._skipped: set[tuple[Key, float]] = set()  # unreadable, or no stage on this tier

    @property
    def key(self) -> str:
        return f"{self.tier}/{self.host}"

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        heartbeats.ensure_topic(self.settings)
        producer = heartbeats.heartbeat_producer(self.settings)
        self.log.info("agent_started", pid=os.getpid(), home=str(self.home))
        try:
            with PlanFollower(self.settings) as follower:
                next_beat = 0.0
                while not stop.is_set():
                    self._reconcile(follower.records())
                    self._reap()
                    if time.monotonic() >= next_beat:
                        heartbeats.send_heartbeat(producer, self.key, self.heartbeat())
                        next_beat = time.monotonic() + self.heartbeat_s
                    stop.wait(0.2)
        finally:
            for key in list(self._versions):
                self._drop(key)
            self._wait_stopped()
            heartbeats.send_heartbeat(producer, self.key, self.heartbeat() | {"stopped": True})
            producer.flush(10)
            self.log.info("agent_stopped")

    def heartbeat(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "host": self.host,
            "pid": os.getpid(),
            "cpus": heartbeats.available_cpus(),
            "running": [
                {
                    "pipeline": key[0],
                    "version": key[1],
                    "stage": stage,
                    "replicas": len(reps),
                    "pids": [r.proc.pid for r in reps if r.proc is not None],
                }
                for key, v in sorted(self._versions.items())
                for stage, reps in sorted(v.replicas.items())
            ],
            "at": time.time(),
        }

    def running_pids(self) -> list[int]:
        """The stage processes this agent runs now (not those it is stopping)."""
        return [
            r.proc.pid
            for v in self._versions.values()
            for reps in v.replicas.values()
            for r in reps
            if r.proc is not None and r.proc.poll() is None
        ]

    # --- reconciling ----------------------------------------------------------------

    def _reconcile(self, records: dict[Key, PlanRecord]) -> None:
        wanted = {
            key: r
            for key, r in records.items()
            if r.state == "active" and (self.pipelines is None or key[0] in self.pipelines)
        }
        for key in list(self._versions):
            if key not in wanted:
                self._drop(key)
        for key, record in wanted.items():
            version = self._version(key, record)
            if version is None:
                continue
            if not version.ready and not self._prepare(version):
                continue
            for stage in version.plan.stages:
                if stage.tier == self.tier:
                    self._scale(version, stage.index, record.replicas.get(stage.index, 0))

    def _version(self, key: Key, record: PlanRecord) -> _Version | None:
        known = self._versions.get(key)
        if known is not None:
            known.record = record
            return known
        if (key, record.published_at) in self._skipped:
            return None
        try:
            plan = record.plan()
        except ConfigError as exc:
            self._skipped.add((key, record.published_at))
            self.log.error("plan_unreadable", pipeline=key[0], version=key[1], reason=str(exc))
            return None
        if not any(s.tier == self.tier for s in plan.stages):
            self._skipped.add((key, record.published_at))
            return None
        folder = self.home / f"{key[0]}-v{key[1]}"
        version = _Version(record, plan, folder)
        self._versions[key] = version
        return version

    def _prepare(self, v: _Version) -> bool:
        """Write the plan and fetch this tier's partitions; False (retried later) if not yet."""
        if time.monotonic() < v.retry_at:
            return False
        try:
            v.folder.mkdir(parents=True, exist_ok=True)
            if not v.plan_path.is_file() or v.plan_path.read_text() != v.record.plan_yaml:
                v.plan_path.write_text(v.record.plan_yaml)
            for stage in v.plan.stages:
                if stage.tier != self.tier:
                    continue
                dest = stage_model_path(v.plan_path, stage)
                if not dest.is_relative_to(v.folder.resolve()):
                    raise ConfigError(f"stage {stage.index}'s model {stage.onnx} is outside")
                digest = v.record.artifacts.get(stage.index, stage.onnx_sha256)
                if digest != stage.onnx_sha256:
                    raise ConfigError(
                        f"the record's artifact for stage {stage.index} is {digest[:12]}, "
                        f"the plan says {stage.onnx_sha256[:12]}"
                    )
                fetch_artifact(self.settings, digest, dest)
        except (EdgesplitError, OSError) as exc:
            v.retry_at = time.monotonic() + _FETCH_RETRY_S
            self.log.error(
                "version_not_prepared",
                pipeline=v.plan.pipeline,
                version=v.plan.version,
                reason=str(exc),
                retry_in_s=_FETCH_RETRY_S,
            )
            return False
        v.ready = True
        self.log.info("version_prepared", pipeline=v.plan.pipeline, version=v.plan.version)
        return True

    def _scale(self, v: _Version, stage: int, n: int) -> None:
        reps = v.replicas.setdefault(stage, [])
        while len(reps) > n:
            extra = reps.pop()
            if extra.proc is not None:
                self._terminate(extra.proc)
        reps.extend(_Replica() for _ in range(n - len(reps)))
        now = time.monotonic()
        for i, r in enumerate(reps):
            where = {
                "pipeline": v.plan.pipeline,
                "version": v.plan.version,
                "stage": stage,
                "replica": i,
            }
            if r.proc is not None:
                code = r.proc.poll()
                if code is None:
                    continue
                healthy = now - r.started > _HEALTHY_AFTER_S
                r.failures = 1 if healthy else r.failures + 1
                delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (r.failures - 1))
                r.next_start = now + delay
                self.log.warning("stage_exited", **where, code=code, restart_in_s=delay)
                r.proc = None
            if now < r.next_start:
                continue
            logfile = v.folder / f"stage-{stage}-{i}.log"
            r.proc = spawn_stage(
                v.plan_path,
                stage,
                self.settings,
                logfile,
                log_level=self.log_level,
                placement=self.placement,
            )
            r.started = now
            event = "stage_restarted" if r.failures else "stage_spawned"
            self.log.info(event, **where, pid=r.proc.pid, failures=r.failures)

    # --- stopping -------------------------------------------------------------------

    def _drop(self, key: Key) -> None:
        v = self._versions.pop(key)
        procs = [r.proc for reps in v.replicas.values() for r in reps if r.proc is not None]
        for proc in procs:
            self._terminate(proc)
        if procs:
            self.log.info(
                "version_stopping", pipeline=key[0], version=key[1], pids=[p.pid for p in procs]
            )

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                return
            self._stopping.append((proc, time.monotonic() + STOP_GRACE_S))

    def _reap(self) -> None:
        now = time.monotonic()
        left = []
        for proc, deadline in self._stopping:
            if proc.poll() is not None:
                self.log.info("stage_stopped", pid=proc.pid, code=proc.returncode)
                continue
            if now > deadline:
                self.log.warning("stage_killed", pid=proc.pid, after_s=STOP_GRACE_S)
                proc.kill()
                proc.wait()
                continue
            left.append((proc, deadline))
        self._stopping = left

    def _wait_stopped(self) -> None:
        while self._stopping:
            self._reap()
            time.sleep(0.1)


def spawn_agent(
    tier: str,
    settings: KafkaSettings,
    logfile: Path,
    placement: Placement = HERE,
    *,
    state: Path | None = None,
    log_level: str = "info",
) -> subprocess.Popen[bytes]:
    """Start `edgesplit agent --tier TIER` as a detached process logging JSON to a file."""
    args = ["agent", "--tier", tier, *(["--state", str(state)] if state is not None else [])]
    return spawn_edgesplit(
        args, placement.bootstrap or settings.bootstrap_servers, logfile, log_level, placement
    )
