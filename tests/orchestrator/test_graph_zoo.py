"""The zoo's MobileNetV2 and MNIST CNN split at every single-tensor cut, and at random plans."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgesplit.cli.main import app
from edgesplit.orchestrator.graph import ModelGraph
from tests.orchestrator.conftest import Exported
from tests.orchestrator.pipeline import session, split_error

TOLERANCE = 1e-4
ZOO = ("mobilenet_v2", "mnist_cnn")


@pytest.fixture(scope="module")
def zoo() -> dict[str, Exported]:
    from edgesplit.config import cache_dir  # noqa: PLC0415 - as a user would reach the zoo
    from edgesplit.models.export import ensure_onnx  # noqa: PLC0415 - exporting imports torch

    out = {}
    for name in ZOO:
        path = ensure_onnx(name, cache_dir())
        out[name] = Exported(name, path, ModelGraph.load(path), session(str(path)))
    return out


@pytest.mark.parametrize("name", ZOO)
def test_every_single_tensor_cut_of_the_zoo_composes(zoo: dict[str, Exported], name: str) -> None:
    model = zoo[name]
    singles = [c for c in model.graph.cuts() if c.single]
    assert len(singles) >= 15
    for cut in singles:
        assert split_error(model.graph, model.reference, [cut.index], [1, 2]) <= TOLERANCE, cut


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_random_zoo_plans_of_two_and_three_cuts_compose(
    zoo: dict[str, Exported], data: st.DataObject
) -> None:
    model = zoo[data.draw(st.sampled_from(ZOO), label="model")]
    indices = [c.index for c in model.graph.cuts()]
    plan = data.draw(
        st.lists(st.sampled_from(indices), min_size=2, max_size=3, unique=True).map(sorted),
        label="cuts",
    )
    assert split_error(model.graph, model.reference, plan, [2]) <= TOLERANCE


def test_cuts_command_takes_a_zoo_name(zoo: dict[str, Exported]) -> None:
    res = CliRunner().invoke(app, ["cuts", "mnist_cnn", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["index"] for r in rows] == [
        c.index for c in zoo["mnist_cnn"].graph.cuts() if c.single
    ]
