"""Plans on the control plane (real broker): publish, read, scale, retire, delete, follow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError
from edgesplit.kafka.admin import ping
from edgesplit.orchestrator import control
from edgesplit.orchestrator.artifacts import fetch_artifact
from edgesplit.orchestrator.control import PlanFollower
from edgesplit.orchestrator.plan import load_plan
from tests.orchestrator.versions import MNIST_CUT_EARLY, mnist_version, pipeline_name

pytestmark = pytest.mark.kafka


def test_publish_read_scale_retire_and_delete(kafka: KafkaSettings, tmp_path: Path) -> None:
    name = pipeline_name()
    plan, path = mnist_version(tmp_path, name, 1)
    record = control.publish_plan(kafka, path)
    assert (record.pipeline, record.version, record.state) == (name, 1, "active")
    assert record.replicas == {0: 1, 1: 1}
    assert record.artifacts == {s.index: s.onnx_sha256 for s in plan.stages}
    assert record.plan() == load_plan(path)
    assert set(plan.topic_names) <= set(ping(kafka).topics)
    got = fetch_artifact(kafka, record.artifacts[1], tmp_path / "fetched.onnx")
    assert got.read_bytes() == (path.parent / plan.stages[1].onnx).read_bytes()

    assert control.read_plans(kafka)[(name, 1)] == record
    assert control.newest_active(kafka, name) == record

    scaled = control.set_replicas(kafka, name, 1, {0: 2})
    assert scaled.replicas == {0: 2, 1: 1}
    assert control.read_plans(kafka)[(name, 1)].replicas == {0: 2, 1: 1}
    with pytest.raises(ConfigError, match="0 to 2 replicas"):
        control.set_replicas(kafka, name, 1, {1: 3})
    with pytest.raises(ConfigError, match=r"has stages 0\.\.1, not 4"):
        control.set_replicas(kafka, name, 1, {4: 1})

    control.retire(kafka, name, 1)
    assert control.read_plans(kafka)[(name, 1)].state == "retired"
    assert control.newest_active(kafka, name) is None

    control.delete_plan(kafka, name, 1)
    assert (name, 1) not in control.read_plans(kafka)
    with pytest.raises(ConfigError, match=f"no plan {name}/v1"):
        control.retire(kafka, name, 1)


def test_a_published_version_is_immutable(kafka: KafkaSettings, tmp_path: Path) -> None:
    name = pipeline_name()
    (tmp_path / "a").mkdir()
    _, path = mnist_version(tmp_path / "a", name, 1)
    control.publish_plan(kafka, path)
    control.publish_plan(kafka, path)  # the same plan again: fine
    (tmp_path / "b").mkdir()
    _, other = mnist_version(tmp_path / "b", name, 1, cut=MNIST_CUT_EARLY)
    with pytest.raises(ConfigError, match="already published with a different plan"):
        control.publish_plan(kafka, other)
    control.delete_plan(kafka, name, 1)


def test_a_follower_sees_a_new_version_within_a_second_or_two(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    name = pipeline_name()
    _, v1 = mnist_version(tmp_path, name, 1)
    plan2, v2 = mnist_version(tmp_path, name, 2, cut=MNIST_CUT_EARLY)
    control.publish_plan(kafka, v1)
    with PlanFollower(kafka) as follower:
        current = follower.current(name)
        assert current is not None and current.version == 1  # known once it has caught up
        follow = follower.frames_topic(name)
        assert follow() == current.topics.frames
        control.publish_plan(kafka, v2)
        published = time.monotonic()
        follower.wait_for(name, 2, timeout_s=5)
        seen_s = time.monotonic() - published
        assert seen_s < 2.0
        assert follower.current(name) == plan2
        assert follow() == plan2.topics.frames

        control.retire(kafka, name, 2)
        deadline = time.monotonic() + 5
        while (c := follower.current(name)) is None or c.version != 1:
            assert time.monotonic() < deadline, "the follower did not see v2 retired"
            time.sleep(0.05)
        for version in (1, 2):
            control.delete_plan(kafka, name, version)
        deadline = time.monotonic() + 5
        while follower.current(name) is not None:
            assert time.monotonic() < deadline, "the follower did not see the tombstones"
            time.sleep(0.05)
        assert follow() == plan2.topics.frames  # none active: the last choice stays
    print(f"\nfollower saw v2 {seen_s * 1000:.0f} ms after publish_plan returned")
