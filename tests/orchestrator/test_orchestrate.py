"""The orchestrator live against the real broker: agents run what it publishes; it scales
a deliberately slow stage when its lag grows, and re-splits when a link measurement drops.

Profiles are synthetic (costs made up over the MNIST CNN's real cuts) so that the plan
chosen is known; stages, agents, lag and metrics are all real.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.orchestrator import control
from edgesplit.orchestrator.graph import ModelGraph
from edgesplit.orchestrator.live import Orchestrator, Settings
from edgesplit.orchestrator.profile import CutCost, LinkProfile, TierProfile
from edgesplit.orchestrator.profiles_topic import publish_profile
from edgesplit.producers.sources import mnist
from edgesplit.producers.stream import stream
from tests.orchestrator.test_agent import agents
from tests.orchestrator.versions import pipeline_name
from tests.support import zoo_onnx

pytestmark = pytest.mark.kafka


def synthetic(tier: str, whole_ms: float, cpus: float, link_bps: float | None) -> TierProfile:
    """Compute spread evenly over the MNIST CNN's single-tensor cuts."""
    graph = ModelGraph.load(zoo_onnx("mnist_cnn"))
    cuts = [c for c in graph.cuts() if c.single]
    n = len(cuts) + 1
    return TierProfile(
        model="mnist_cnn",
        onnx_sha256="synthetic",
        tier=tier,
        host="test",
        cpus=cpus,
        threads=1,
        batch_sizes=(4,),
        frame_bytes=784,
        whole_ms={4: 4 * whole_ms},
        cuts=tuple(
            CutCost(
                index=c.index,
                tensor=c.tensors[0].name,
                bytes_per_frame=c.bytes_per_frame,
                prefix_ms={4: 4 * whole_ms * (i + 1) / n},
                suffix_ms={4: 4 * whole_ms * (n - i - 1) / n},
            )
            for i, c in enumerate(cuts)
        ),
        link=None
        if link_bps is None
        else LinkProfile(uplink_bps=link_bps, rtt_ms=1, hop_ms=2, probe_bytes=1, measured_at=0),
        measured_at=time.time(),
    )


def _orchestrator(kafka: KafkaSettings, tmp: Path, pipeline: str, **kw: object) -> Orchestrator:
    s = Settings(
        model="mnist_cnn",
        onnx=zoo_onnx("mnist_cnn"),
        classes="mnist",
        chain=("edge", "cloud"),
        pipeline=pipeline,
        workdir=tmp / "plans",
        interval_s=1.0,
        sustain=2,
        cooldown_s=3.0,
        **kw,  # type: ignore[arg-type]
    )
    return Orchestrator(kafka, s)


def _stream_in_background(
    kafka: KafkaSettings, follower: control.PlanFollower, pipeline: str, count: int, rate: float
) -> threading.Thread:
    frames = list(mnist(count, cache_dir()))
    follow = follower.frames_topic(pipeline)
    thread = threading.Thread(
        target=stream,
        args=(kafka, follow(), frames),
        kwargs={"rate_hz": rate, "follow": follow, "run_id": "run"},
        daemon=True,
    )
    thread.start()
    return thread


def test_a_slow_stage_gets_a_replica_and_its_lag_drains(
    kafka: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = pipeline_name()
    # the whole model on the cloud (a slow edge, no link limit), made slow on purpose:
    # 25 ms per frame = 40 frames/s per replica, against 60 frames/s streamed
    monkeypatch.setenv("EDGESPLIT_SLOW_STAGE", "0:25")
    orch = _orchestrator(
        kafka,
        tmp_path,
        pipeline,
        resplit=False,
        profile_files={
            "edge": synthetic("edge", 50.0, 1, None),
            "cloud": synthetic("cloud", 1.0, 2, None),
        },
    )
    with agents(kafka, tmp_path / "state", pipeline):
        plan = orch.start()
        assert [s.tier for s in plan.stages] == ["cloud"]
        with control.PlanFollower(kafka) as follower:
            producer = _stream_in_background(kafka, follower, pipeline, 900, 60.0)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                time.sleep(1.0)
                orch.step()
                last = [e for e in orch.events if e.kind == "observed"][-1]
                scaled = [e for e in orch.events if e.kind == "scaled"]
                if scaled and not producer.is_alive() and last.figures.get("lag_0") == 0:
                    break
            producer.join(30)
        orch.close()
    scaled = [e for e in orch.events if e.kind == "scaled"]
    assert scaled and scaled[0].figures == {"stage": 0, "replicas": 2}, orch.events
    lags = [(e.at, e.figures.get("lag_0", 0)) for e in orch.events if e.kind == "observed"]
    assert max(n for at, n in lags if at <= scaled[0].at) > 50, lags  # it fell behind
    assert lags[-1][1] == 0, lags  # and caught up with two replicas


# exactly-once: the old version drains although a commit marker follows its last records
@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_a_link_drop_makes_it_publish_a_new_version_and_retire_the_old(
    kafka: KafkaSettings, tmp_path: Path, delivery: str
) -> None:
    pipeline = pipeline_name()
    edge = synthetic("edge", 4.0, 1, 1e9)
    cloud = synthetic("cloud", 1.0, 2, None)
    publish_profile(kafka, edge.model_copy(update={"model": "mnist_cnn"}))
    orch = _orchestrator(
        kafka,
        tmp_path,
        pipeline,
        scale=False,
        profile_files={"cloud": cloud},
        delivery=delivery,
    )
    with agents(kafka, tmp_path / "state", pipeline):
        first = orch.start()
        with control.PlanFollower(kafka) as follower:
            producer = _stream_in_background(kafka, follower, pipeline, 300, 30.0)
            time.sleep(2)
            orch.step()
            # the edge's link measurement drops to 20 kbit/s: 784-byte frames no longer fit
            slow = LinkProfile(uplink_bps=2e4, rtt_ms=1, hop_ms=2, probe_bytes=1, measured_at=1)
            publish_profile(kafka, edge.model_copy(update={"link": slow}))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(e.kind == "retired" for e in orch.events):
                time.sleep(1.0)
                orch.step()
            producer.join(30)
        orch.close()
    kinds = [(e.kind, e.version) for e in orch.events if e.kind != "observed"]
    assert first.delivery == delivery
    assert ("published", first.version + 1) in kinds, kinds
    assert ("retired", first.version) in kinds, kinds
