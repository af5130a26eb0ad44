"""Deploy a plan on this machine: create its topics, start every stage as a process.

A deployment's state (pids, logs) lives under the state directory, so `deploy --stop`
works from any shell. Stopping is graceful: SIGTERM lets a stage finish its batch, flush
and store its offsets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka import ConsumerGroupState, KafkaException

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError, StageError
from edgesplit.kafka.admin import TopicSpec, admin_client, create_topics
from edgesplit.kafka.limits import message_limit
from edgesplit.log import get_logger
from edgesplit.orchestrator.plan import Plan, load_plan, verify_stage_model

log = get_logger("deploy")

# Stage processes started by this process, kept so that stopping them reaps them too.
_children: dict[int, subprocess.Popen[bytes]] = {}
KILL_WAIT_S = 10.0  # for a SIGKILLed stage to be gone


def _as_is(cmd: list[str]) -> list[str]:
    return cmd


@dataclass(frozen=True)
class Placement:
    """Where a tier's stages run: a command wrapper (e.g. into the emulated edge's network
    namespace and CPU quota) and the bootstrap address that reaches the broker from there."""

    wrap: Callable[[list[str]], list[str]] = _as_is
    bootstrap: str | None = None


HERE = Placement()


@dataclass(frozen=True)
class StageProcess:
    stage: int
    replica: int
    pid: int
    log: str


@dataclass(frozen=True)
class Deployment:
    plan: str
    pipeline: str
    version: int
    bootstrap: str
    started_at: float
    processes: tuple[StageProcess, ...]

    @property
    def name(self) -> str:
        return f"{self.pipeline}-v{self.version}"


def topic_specs(plan: Plan) -> list[TopicSpec]:
    """Every topic of a plan, with the partitions and record size limits it needs."""
    t = plan.topics
    biggest = max(
        t.frames_max_message_bytes,
        t.results_max_message_bytes,
        *(c.max_message_bytes for c in plan.cuts),
    )
    return [
        TopicSpec.for_messages(t.frames, t.frames_max_message_bytes, partitions=t.partitions),
        *(
            TopicSpec.for_messages(c.topic, c.max_message_bytes, partitions=t.partitions)
            for c in plan.cuts
        ),
        TopicSpec.for_messages(t.results, t.results_max_message_bytes, partitions=t.partitions),
        # Dead letters keep the refused records as they came, whatever their kind.
        TopicSpec.for_messages(t.dead_letters, biggest, partitions=1),
        # Stage metrics: small records; kept a week, long enough to look back at a run.
        TopicSpec.for_messages(
            t.metrics,
            message_limit(512 * 1024),
            partitions=1,
            **{"retention.ms": str(7 * 24 * 3600 * 1000)},
        ),
    ]


def deployments_dir(state: Path) -> Path:
    return state / "deployments"


def _state_file(state: Path, name: str) -> Path:
    return deployments_dir(state) / name / "deployment.json"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def deploy(
    plan_path: Path,
    settings: KafkaSettings,
    state: Path,
    *,
    wait_s: float = 60.0,
    log_level: str = "info",
    placements: Mapping[str, Placement] | None = None,
) -> Deployment:
    """Create the plan's topics and start its stages; return once each stage's group is up.

    `placements` maps a tier to where its stages run (default: here, as plain processes).
    """
    plan = load_plan(plan_path)
    for stage in plan.stages:
        verify_stage_model(plan_path, stage)
    name = f"{plan.pipeline}-v{plan.version}"
    existing = read_deployment(state, name)
    if existing is not None and any(alive(p.pid) for p in existing.processes):
        raise ConfigError(
            f"{name} is already deployed (pids {[p.pid for p in existing.processes]}); "
            "stop it first with `edgesplit deploy --stop`"
        )
    create_topics(settings, topic_specs(plan))
    folder = deployments_dir(state) / name
    folder.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[StageProcess, subprocess.Popen[bytes]]] = []
    for stage in plan.stages:
        for replica in range(stage.replicas):
            logfile = folder / f"stage-{stage.index}-{replica}.log"
            proc = spawn_stage(
                plan_path,
                stage.index,
                settings,
                logfile,
                log_level=log_level,
                placement=(placements or {}).get(stage.tier, HERE),
            )
            procs.append((StageProcess(stage.index, replica, proc.pid, str(logfile)), proc))
    deployment = Deployment(
        str(plan_path.resolve()),
        plan.pipeline,
        plan.version,
        settings.bootstrap_servers,
        time.time(),
        tuple(p for p, _ in procs),
    )
    _state_file(state, name).write_text(json.dumps(asdict(deployment), indent=2))
    log.info("stages_started", deployment=name, pids=[p.pid for p in deployment.processes])
    try:
        _wait_for_groups(plan, settings, procs, wait_s)
    except StageError:
        stop_deployment(state, name)
        raise
    return deployment


def spawn_stage(
    plan_path: Path,
    stage: int,
    settings: KafkaSettings,
    logfile: Path,
    *,
    log_level: str = "info",
    placement: Placement = HERE,
) -> subprocess.Popen[bytes]:
    """Start `edgesplit stage run` for one stage as a detached process logging JSON to a file."""
    args = ["stage", "run", str(plan_path.resolve()), "--stage", str(stage)]
    return spawn_edgesplit(
        args, placement.bootstrap or settings.bootstrap_servers, logfile, log_level, placement
    )


def spawn_edgesplit(
    args: list[str],
    bootstrap: str,
    logfile: Path,
    log_level: str = "info",
    placement: Placement = HERE,
) -> subprocess.Popen[bytes]:
    """`edgesplit ARGS --bootstrap B` as a detached process (its own session: a Ctrl-C
    here does not reach it) logging JSON to `logfile`; reaped by `terminate`."""
    cmd = [sys.executable, "-m", "edgesplit", "--log-format", "json", "--log-level", log_level]
    cmd += [*args, "--bootstrap", bootstrap]
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as out:
        proc = subprocess.Popen(
            placement.wrap(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc


def _wait_for_groups(
    plan: Plan,
    settings: KafkaSettings,
    procs: list[tuple[StageProcess, subprocess.Popen[bytes]]],
    wait_s: float,
) -> None:
    """Wait until every stage's consumer group is stable with all its replicas."""

    def check() -> None:
        for sp, proc in procs:
            if proc.poll() is not None:
                tail = Path(sp.log).read_text(errors="replace").splitlines()[-5:]
                raise StageError(
                    f"stage {sp.stage} exited with code {proc.returncode} during start-up; "
                    f"its log ({sp.log}) ends:\n" + "\n".join(tail)
                )

    want = {plan.group_id(s.index): s.replicas for s in plan.stages}
    wait_for_groups(settings, want, wait_s, check=check, logs=str(Path(procs[0][0].log).parent))


def wait_for_groups(
    settings: KafkaSettings,
    want: Mapping[str, int],
    wait_s: float,
    *,
    check: Callable[[], None] = lambda: None,
    logs: str = "the stages' logs",
) -> None:
    """Wait until each group is stable with at least `want[group]` members; `check` raises
    to give up early (e.g. a process died)."""
    admin = admin_client(settings)
    deadline = time.monotonic() + wait_s
    while True:
        check()
        ready = set()
        try:
            futures = admin.describe_consumer_groups(list(want), request_timeout=5)
            for group, fut in futures.items():
                desc = fut.result()
                if desc.state == ConsumerGroupState.STABLE and len(desc.members) >= want[group]:
                    ready.add(group)
        except KafkaException:
            pass
        if ready == set(want):
            return
        if time.monotonic() > deadline:
            raise StageError(
                f"stages did not join their consumer groups within {wait_s:g}s "
                f"(ready: {sorted(ready)}); see the logs in {logs}"
            )
        time.sleep(0.5)


def read_deployment(state: Path, name: str) -> Deployment | None:
    try:
        raw = json.loads(_state_file(state, name).read_text())
    except (OSError, ValueError):
        return None
    raw["processes"] = tuple(StageProcess(**p) for p in raw["processes"])
    return Deployment(**raw)


def list_deployments(state: Path) -> list[Deployment]:
    folder = deployments_dir(state)
    if not folder.is_dir():
        return []
    found = (read_deployment(state, d.name) for d in sorted(folder.iterdir()))
    return [d for d in found if d is not None]


def running(deployment: Deployment) -> list[StageProcess]:
    return [p for p in deployment.processes if alive(p.pid)]


def stop_deployment(
    state: Path, name: str, timeout_s: float = 30.0, *, expect_kill: bool = False
) -> list[StageProcess]:
    """SIGTERM every stage of a deployment, wait, then SIGKILL stragglers. Returns what ran.

    `expect_kill`: the caller gives the stages no time to finish on purpose (a benchmark
    that deletes its topics next), so a kill is no news (logged at debug, not a warning)."""
    deployment = read_deployment(state, name)
    if deployment is None:
        return []
    live = running(deployment)
    report = log.debug if expect_kill else log.warning
    for pid in terminate([p.pid for p in live], timeout_s):
        report("stage_killed", pid=pid, after_s=timeout_s)
    log.info("stages_stopped", deployment=name, pids=[p.pid for p in live])
    return live


def terminate(pids: Sequence[int], timeout_s: float) -> list[int]:
    """SIGTERM each process, wait up to `timeout_s` for all, SIGKILL the rest (returned)
    and wait until they are gone: a killed process still runs its exit, and in a CPU
    quota that has run out (the testbed's edge) it waits for the next period first; a
    plan deployed again at once had found it alive."""
    _signal(pids, signal.SIGTERM)
    _wait_gone(pids, timeout_s)
    killed = [pid for pid in pids if alive(pid)]
    _signal(killed, signal.SIGKILL)
    _wait_gone(killed, KILL_WAIT_S)
    return killed


def _signal(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # gone already
            continue


def _wait_gone(pids: Sequence[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.02)
    _reap()


def _reap() -> None:
    """Collect the stages this process started that have exited, so they leave no zombie."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]
