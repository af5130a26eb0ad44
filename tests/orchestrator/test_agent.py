"""Agents run what the plans topic says (real broker, real stage processes).

One agent per tier runs as a thread of the test; the stages they start are real
`edgesplit stage run` processes. A version switchover streams frames that follow the
newest version and checks that every frame is answered exactly once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.consumers.results import ResultsSummary, read_results
from edgesplit.orchestrator import control
from edgesplit.orchestrator.agent import Agent, read_agents
from edgesplit.orchestrator.control import PlanFollower, drained
from edgesplit.orchestrator.deploy import alive, wait_for_groups
from edgesplit.producers.sources import mnist
from edgesplit.producers.stream import StreamReport, stream
from tests.orchestrator.versions import MNIST_CUT_EARLY, mnist_version, pipeline_name

pytestmark = pytest.mark.kafka


@contextmanager
def agents(
    kafka: KafkaSettings, state: Path, pipeline: str, tiers: tuple[str, ...] = ("edge", "cloud")
) -> Iterator[dict[str, Agent]]:
    """An agent per tier, each running in a thread; stopped (and checked) on the way out."""
    stop = threading.Event()
    failures: list[BaseException] = []
    running = {t: Agent(t, kafka, state, heartbeat_s=0.5, pipelines={pipeline}) for t in tiers}

    def run(agent: Agent) -> None:
        try:
            agent.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(a,), daemon=True) for a in running.values()]
    for t in threads:
        t.start()
    try:
        yield running
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, failures
    assert not any(t.is_alive() for t in threads)


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:g}s: {what}"
        time.sleep(0.1)


def pids_of(agent: Agent, pipeline: str, version: int, stage: int) -> list[int]:
    for entry in agent.heartbeat()["running"]:
        if (entry["pipeline"], entry["version"], entry["stage"]) == (pipeline, version, stage):
            return [p for p in entry["pids"] if alive(p)]
    return []


def test_agents_run_scale_restart_and_retire_a_published_plan(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    name = pipeline_name()
    plan, path = mnist_version(tmp_path, name, 1)  # 2 partitions: room for 2 replicas
    state = tmp_path / "state"
    seen: set[int] = set()
    with agents(kafka, state, name) as by_tier:
        edge, cloud = by_tier["edge"], by_tier["cloud"]
        control.publish_plan(kafka, path)
        frames = list(mnist(50, cache=cache_dir()))
        sent = stream(
            kafka,
            plan.topics.frames,
            frames,
            max_message_bytes=plan.topics.frames_max_message_bytes,
        )
        report = read_results(
            kafka,
            [plan.topics.results],
            count=50,
            idle_timeout_s=60,
            accept=lambda r: r.frame_id.startswith(sent.run_id),
        )
        assert report.frames == 50
        folder = state / "agent-edge" / f"{name}-v1"
        assert (folder / "plan.yaml").read_text() == path.read_text()
        assert (folder / plan.stages[0].onnx).is_file()
        assert not (folder / plan.stages[1].onnx).exists()  # the cloud's partition: not here

        # A stage that dies is started again.
        (victim,) = pids_of(cloud, name, 1, 1)
        seen.add(victim)
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: pids_of(cloud, name, 1, 1) not in ([], [victim]), "a restart")

        control.set_replicas(kafka, name, 1, {0: 2})
        eventually(lambda: len(pids_of(edge, name, 1, 0)) == 2, "2 replicas of stage 0")
        wait_for_groups(kafka, {plan.group_id(0): 2}, 60)
        beats = read_agents(kafka)
        edge_beat = beats[edge.key]
        assert edge_beat["tier"] == "edge" and edge_beat["cpus"] > 0
        assert any(
            e["pipeline"] == name and e["stage"] == 0 and e["replicas"] == 2
            for e in edge_beat["running"]
        )
        seen |= set(pids_of(edge, name, 1, 0)) | set(pids_of(cloud, name, 1, 1))

        control.retire(kafka, name, 1)
        eventually(lambda: not any(alive(p) for p in seen), "the retired stages gone")
        assert edge.running_pids() == cloud.running_pids() == []
    assert not any(alive(p) for p in seen)
    control.delete_plan(kafka, name, 1)


def test_frames_follow_the_newest_version_and_each_is_answered_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    name = pipeline_name()
    v1, v1_path = mnist_version(tmp_path, name, 1, partitions=1)
    v2, v2_path = mnist_version(tmp_path, name, 2, cut=MNIST_CUT_EARLY, partitions=1)
    halfway = threading.Event()
    reports: list[StreamReport] = []
    with agents(kafka, tmp_path / "state", name), PlanFollower(kafka) as follower:
        control.publish_plan(kafka, v1_path)
        follower.wait_for(name, 1, 10)
        wait_for_groups(kafka, {v1.group_id(0): 1, v1.group_id(1): 1}, 60)

        def produce() -> None:
            reports.append(
                stream(
                    kafka,
                    v1.topics.frames,
                    mnist(200, cache=cache_dir(), seed=1),
                    rate_hz=50,
                    max_message_bytes=v1.topics.frames_max_message_bytes,
                    follow=follower.frames_topic(name),
                    on_sent=lambda n: halfway.set() if n >= 80 else None,
                )
            )

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        assert halfway.wait(30)
        control.publish_plan(kafka, v2_path)
        follower.wait_for(name, 2, 10)
        switched = time.monotonic()
        eventually(lambda: drained(kafka, v1), "v1 drained", timeout_s=60)
        drained_s = time.monotonic() - switched
        control.retire(kafka, name, 1)
        producer.join(60)
        assert reports, "the stream failed"
        sent = reports[0]
        assert sent.frames == 200
        assert sent.topics == (v1.topics.frames, v2.topics.frames)

        summary = ResultsSummary()
        read_results(
            kafka,
            [v1.topics.results, v2.topics.results],
            count=200,
            idle_timeout_s=60,
            summary=summary,
            accept=lambda r: r.frame_id.startswith(sent.run_id),
        )
    ids = {f"{sent.run_id}:sensor-0:{i}" for i in range(200)}
    assert set(summary.answers) == ids
    assert summary.duplicates == 0
    per_version = summary.report().per_version
    assert sum(per_version.values()) == 200
    assert per_version[1] >= 40 and per_version[2] >= 40  # publishing v2 starts at frame 80
    for version in (1, 2):
        control.delete_plan(kafka, name, version)
    print(
        f"\nswitchover: {per_version[1]} frames answered by v1, {per_version[2]} by v2, "
        f"none twice; v1 drained {drained_s:.1f} s after v2 was published"
    )
