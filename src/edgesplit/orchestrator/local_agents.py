"""Agents started on this machine by `edgesplit deploy --publish --local-agents`.

Each is a detached `edgesplit agent` process, recorded under the state directory (pid,
log) so that `edgesplit deploy --stop` finds and stops it from any shell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from edgesplit.config import KafkaSettings
from edgesplit.errors import StageError
from edgesplit.log import get_logger
from edgesplit.orchestrator.agent import spawn_agent
from edgesplit.orchestrator.control import PlanRecord
from edgesplit.orchestrator.deploy import HERE, Placement, alive, terminate, wait_for_groups

log = get_logger("local_agents")

# Agents started by this process, kept so that stopping them reaps them too.


@dataclass(frozen=True)
class LocalAgent:
    tier: str
    pid: int
    log: str
    bootstrap: str
    started_at: float


def agents_dir(state: Path) -> Path:
    return state / "agents"


def list_local_agents(state: Path) -> list[LocalAgent]:
    folder = agents_dir(state)
    out = []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(LocalAgent(**json.loads(f.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def start_local_agents(
    tiers: list[str],
    settings: KafkaSettings,
    state: Path,
    placements: Mapping[str, Placement] | None = None,
) -> list[LocalAgent]:
    """One agent per tier (an agent of that tier already running here is kept)."""
    running = {a.tier: a for a in list_local_agents(state) if alive(a.pid)}
    out = []
    for tier in dict.fromkeys(tiers):
        if tier in running:
            out.append(running[tier])
            continue
        logfile = agents_dir(state) / f"agent-{tier}.log"
        proc = spawn_agent(tier, settings, logfile, (placements or {}).get(tier, HERE), state=state)
        agent = LocalAgent(tier, proc.pid, str(logfile), settings.bootstrap_servers, time.time())
        (agents_dir(state) / f"{tier}.json").write_text(json.dumps(asdict(agent), indent=2))
        log.info("agent_started", tier=tier, pid=proc.pid)
        out.append(agent)
    return out


def wait_for_record(
    settings: KafkaSettings,
    record: PlanRecord,
    agents: list[LocalAgent],
    wait_s: float,
) -> None:
    """Wait until the record's stages have joined their groups with their replicas."""
    plan = record.plan()
    want = {plan.group_id(s): n for s, n in record.replicas.items() if n > 0}

    def check() -> None:
        for a in agents:
            if not alive(a.pid):
                tail = Path(a.log).read_text(errors="replace").splitlines()[-5:]
                raise StageError(
                    f"the {a.tier} agent (pid {a.pid}) exited; its log ({a.log}) ends:\n"
                    + "\n".join(tail)
                )

    logs = str(Path(agents[0].log).parent.parent / "agent-*") if agents else "the agents' logs"
    wait_for_groups(settings, want, wait_s, check=check, logs=logs)


def stop_local_agents(state: Path, timeout_s: float = 60.0) -> list[LocalAgent]:
    """SIGTERM every local agent (each stops its stages first), wait, then SIGKILL."""
    live = [a for a in list_local_agents(state) if alive(a.pid)]
    for pid in terminate([a.pid for a in live], timeout_s):
        log.warning("agent_killed", pid=pid, after_s=timeout_s)
    for f in agents_dir(state).glob("*.json"):
        f.unlink(missing_ok=True)
    log.info("agents_stopped", pids=[a.pid for a in live])
    return live
