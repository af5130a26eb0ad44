"""Stage models: run one after the other they reproduce the unsplit model."""

from __future__ import annotations

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.graph import Cut, TensorInfo
from tests.orchestrator.conftest import Exported
from tests.orchestrator.models import MODELS
from tests.orchestrator.pipeline import session, split_error

TOLERANCE = 1e-4
ORT_TYPES = {"float32": "tensor(float)", "uint8": "tensor(uint8)"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_single_tensor_cut_composes(exported: dict[str, Exported], name: str) -> None:
    model = exported[name]
    singles = [c for c in model.graph.cuts() if c.single]
    assert len(singles) >= 9
    for cut in singles:
        assert split_error(model.graph, model.reference, [cut.index], [1, 3]) <= TOLERANCE, cut


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_plans_of_two_and_three_cuts_compose(
    exported: dict[str, Exported], data: st.DataObject
) -> None:
    model = exported[data.draw(st.sampled_from(sorted(exported)), label="model")]
    indices = [c.index for c in model.graph.cuts()]
    plan = data.draw(
        st.lists(st.sampled_from(indices), min_size=2, max_size=3, unique=True).map(sorted),
        label="cuts",
    )
    batch = data.draw(st.sampled_from([1, 3]), label="batch")
    assert split_error(model.graph, model.reference, plan, [batch], seed=len(plan)) <= TOLERANCE


def _ort_io(values: list[object]) -> list[tuple[str, str, list[object]]]:
    return [(v.name, v.type, list(v.shape)) for v in values]  # type: ignore[attr-defined]


def _declared(tensors: tuple[TensorInfo, ...]) -> list[tuple[str, str, list[object]]]:
    return [(t.name, ORT_TYPES[t.dtype], ["N", *t.shape]) for t in tensors]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_stage_loads_and_declares_its_inputs_and_outputs(
    exported: dict[str, Exported], name: str
) -> None:
    model = exported[name]
    graph = model.graph
    source = onnx.load(str(model.path))
    plan = graph.cuts()[::4]
    stages = graph.split(plan)
    assert [s.index for s in stages] == list(range(len(plan) + 1))
    assert stages[0].inputs == graph.inputs
    assert stages[-1].outputs == graph.outputs
    for stage, after in zip(stages, [*plan, None], strict=True):
        sess = session(stage.onnx_bytes)
        assert _ort_io(sess.get_inputs()) == _declared(stage.inputs)
        assert _ort_io(sess.get_outputs()) == _declared(stage.outputs)
        sent = (*stage.outputs, *stage.passthrough)
        assert {t.name for t in sent} == {t.name for t in (after.tensors if after else sent)}
        proto = onnx.load_from_string(stage.onnx_bytes)
        assert proto.ir_version == source.ir_version
        assert list(proto.opset_import) == list(source.opset_import)
        assert all(node.op_type != "Constant" for node in proto.graph.node)
        read = {name for node in proto.graph.node for name in node.input}
        assert {t.name for t in proto.graph.initializer} <= read, "only the weights it uses"


def test_no_cuts_is_one_stage_that_is_the_model(exported: dict[str, Exported]) -> None:
    model = exported["residual"]
    (stage,) = model.graph.split([])
    assert stage.inputs == model.graph.inputs
    assert stage.outputs == model.graph.outputs
    assert stage.passthrough == ()
    assert split_error(model.graph, model.reference, [], [1, 3]) <= TOLERANCE


def test_a_skip_over_two_cuts_passes_through_the_middle_stage(
    exported: dict[str, Exported],
) -> None:
    model = exported["long_skip"]
    graph = model.graph
    skip = "/stem/stem.2/Clip_output_0"
    first = graph.cut(f"{skip},/f1/f1.1/Relu_output_0")
    second = graph.cut(f"/f2/f2.1/Relu_output_0,{skip}")
    stages = graph.split([first, second])
    middle = stages[1]
    assert [t.name for t in middle.inputs] == ["/f1/f1.1/Relu_output_0"]
    assert [t.name for t in middle.outputs] == ["/f2/f2.1/Relu_output_0"]
    assert [t.name for t in middle.passthrough] == [skip]
    assert skip not in {vi.name for vi in onnx.load_from_string(middle.onnx_bytes).graph.input}
    assert [t.name for t in stages[2].inputs] == [skip, "/f2/f2.1/Relu_output_0"]
    assert split_error(graph, model.reference, [first.index, second.index], [1, 3]) <= TOLERANCE


def test_a_tensor_can_be_both_read_and_passed_through(exported: dict[str, Exported]) -> None:
    graph = exported["branching"].graph
    stem = "/stem/stem.2/Clip_output_0"
    stages = graph.split([graph.cut(stem), graph.cut(f"{stem},/a/Conv_output_0")])
    assert [t.name for t in stages[1].inputs] == [stem]
    assert [t.name for t in stages[1].outputs] == ["/a/Conv_output_0"]
    assert [t.name for t in stages[1].passthrough] == [stem]


def test_cut_lists_must_be_strictly_increasing_and_valid(exported: dict[str, Exported]) -> None:
    graph = exported["chain"].graph
    a, b = graph.cuts()[2], graph.cuts()[5]
    with pytest.raises(PlanningError, match="strictly increasing"):
        graph.split([b, a])
    with pytest.raises(PlanningError, match="strictly increasing"):
        graph.split([a, a])
    foreign = exported["residual"].graph.cuts()[10]
    with pytest.raises(PlanningError, match="not a valid cut of model"):
        graph.split([foreign])
    forged = Cut(a.index, a.after_node, (TensorInfo("x", "float32", (1,)),))
    with pytest.raises(PlanningError, match=f"cut {a.index} .* is not a valid cut"):
        graph.split([forged])
