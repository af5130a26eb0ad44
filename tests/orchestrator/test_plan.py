"""Plan files: written by the builder, read back equal; bad ones are clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgesplit.errors import ConfigError, PlanningError
from edgesplit.orchestrator.plan import load_plan, save_plan, verify_stage_model
from tests.support import make_plan


@pytest.fixture(scope="module")
def mnist_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, path = make_plan(tmp_path_factory.mktemp("plan"), "mnist_cnn", [5, 9], encoding="fp16")
    return path


def test_round_trip(mnist_plan: Path, tmp_path: Path) -> None:
    plan = load_plan(mnist_plan)
    assert [s.tier for s in plan.stages] == ["edge", "fog", "cloud"]
    assert [c.encoding for c in plan.cuts] == ["fp16", "fp16"]
    assert plan.stages[1].input_topic == plan.cuts[0].topic
    copy = tmp_path / "copy.yaml"
    save_plan(plan, copy)
    assert load_plan(copy) == plan
    assert plan.delivery == "at-least-once"
    for stage in plan.stages:
        assert verify_stage_model(mnist_plan, stage).is_file()


def _mutated(src: Path, tmp: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    data = yaml.safe_load(src.read_text())
    change(data)
    out = src.parent / f"bad-{tmp.name}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["stages"][0].pop("tier"), r"stages\.0\.tier: Field required"),
        (lambda d: d["cuts"][0].update(encoding="int4"), "unknown tensor encoding 'int4'"),
        (lambda d: d["stages"][1].update(input_topic="elsewhere"), "stage 1 must read"),
        (lambda d: d.update(version=0), r"version: Input should be greater than or equal to 1"),
        (lambda d: d["cuts"].pop(), "1 cuts need 2 stages"),
        (lambda d: d.update(surprise=True), r"surprise: Extra inputs are not permitted"),
        (lambda d: d["stages"][0]["batch"].update(max_size=0), "max_size"),
        (lambda d: d.update(delivery="at-most-once"), r"delivery: Input should be 'at-least"),
    ],
)
def test_bad_plan_files_say_what_is_wrong(
    mnist_plan: Path, tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_plan(_mutated(mnist_plan, tmp_path, change))


def test_a_plan_without_delivery_is_at_least_once(mnist_plan: Path, tmp_path: Path) -> None:
    """Plan files written before `delivery` existed still load, as they ran."""
    old = _mutated(mnist_plan, tmp_path, lambda d: d.pop("delivery"))
    assert "delivery" not in old.read_text()
    assert load_plan(old).delivery == "at-least-once"


def test_not_a_plan(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_plan(tmp_path / "missing.yaml")
    (tmp_path / "x.yaml").write_text("key: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_plan(tmp_path / "x.yaml")
    (tmp_path / "y.yaml").write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match="not an edgesplit plan"):
        load_plan(tmp_path / "y.yaml")


def test_tampered_partition_is_caught(mnist_plan: Path) -> None:
    plan = load_plan(mnist_plan)
    model = verify_stage_model(mnist_plan, plan.stages[2])
    original = model.read_bytes()
    model.write_bytes(original + b"\0")
    try:
        with pytest.raises(ConfigError, match="does not match the plan"):
            verify_stage_model(mnist_plan, plan.stages[2])
    finally:
        model.write_bytes(original)


def test_bad_cut_requests(tmp_path: Path) -> None:
    with pytest.raises(PlanningError):
        make_plan(tmp_path, "mnist_cnn", ["no-such-tensor"])
    with pytest.raises(PlanningError):
        make_plan(tmp_path, "mnist_cnn", [9, 5])
