"""Where a graph can be cut: valid positions, what crosses them, and asking for a cut."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.graph import Cut, ModelGraph, TensorInfo
from tests.orchestrator.conftest import Exported
from tests.orchestrator.models import export


def test_bytes_per_frame() -> None:
    conv = TensorInfo("x", "float32", (16, 8, 8))
    assert conv.bytes_per_frame == 4 * 16 * 8 * 8
    assert TensorInfo("frame", "uint8", (28, 28)).bytes_per_frame == 784
    assert TensorInfo("ids", "int64", (3,)).bytes_per_frame == 24
    cut = Cut(1, "n", (conv, TensorInfo("y", "float16", (10,))))
    assert cut.bytes_per_frame == 4 * 16 * 8 * 8 + 2 * 10
    assert not cut.single


def test_model_inputs_and_outputs_are_per_frame(exported: dict[str, Exported]) -> None:
    chain = exported["chain"].graph
    assert chain.inputs == (TensorInfo("frame", "uint8", (28, 28)),)
    assert chain.outputs == (TensorInfo("logits", "float32", (10,)),)
    assert chain.batch_symbol == "N"
    residual = exported["residual"].graph
    assert residual.inputs == (TensorInfo("frame", "uint8", (32, 32, 3)),)


def test_cuts_are_ordered_and_inside_the_graph(exported: dict[str, Exported]) -> None:
    for model in exported.values():
        cuts = model.graph.cuts()
        indices = [c.index for c in cuts]
        assert indices == sorted(set(indices))
        assert all(1 <= i < model.graph.node_count for i in indices)
        for cut in cuts:
            assert cut.tensors and cut.bytes_per_frame > 0
            assert all(t.shape and all(d > 0 for d in t.shape) for t in cut.tensors)
            assert set(cut.names) not in ({"frame"}, {"logits"})


def test_first_cut_follows_the_preprocessing(exported: dict[str, Exported]) -> None:
    first = exported["residual"].graph.cuts()[0]
    assert first.index == 1
    assert first.after_node == "/Cast"
    assert first.tensors == (TensorInfo("/Cast_output_0", "float32", (32, 32, 3)),)
    transpose = exported["residual"].graph.cut("/Transpose_output_0")
    assert transpose.tensors[0].shape == (3, 32, 32)
    assert transpose.bytes_per_frame == 4 * 3 * 32 * 32


def test_shape_arithmetic_is_no_cut_but_the_flattened_tensor_is(
    exported: dict[str, Exported],
) -> None:
    """`x.view(x.size(0), -1)`: the int64 shape tensors have no batch axis, the result has."""
    graph = exported["chain"].graph
    after_pool = graph.cut("/pool_1/MaxPool_output_0")
    flat = graph.cut("/Reshape_output_0")
    assert flat.tensors == (TensorInfo("/Reshape_output_0", "float32", (400,)),)
    between = range(after_pool.index + 1, flat.index)
    assert between, "the Shape/Gather/Unsqueeze/Concat nodes sit between the two"
    valid = {c.index for c in graph.cuts()}
    assert not valid & set(between)
    with pytest.raises(PlanningError, match="without a known per-frame shape"):
        graph.cut(after_pool.index + 1)


def test_residual_block_cuts_carry_the_skip(exported: dict[str, Exported]) -> None:
    graph = exported["residual"].graph
    inside = [c for c in graph.cuts() if not c.single]
    assert inside, "cuts inside an inverted residual block carry the block's input too"
    for cut in inside:
        assert len(cut.tensors) == 2
        assert cut.tensors[0].name in (
            "/stem/stem.2/Clip_output_0",
            "/blocks/blocks.1/body/body.2/Conv_output_0",
        )
    # Constants (ReLU6's Clip bounds, the Div/Sub scalars) are weights, never activations.
    for cut in graph.cuts():
        assert all("Constant" not in t.name for t in cut.tensors)


def test_branches_make_cuts_with_three_tensors(exported: dict[str, Exported]) -> None:
    graph = exported["branching"].graph
    widest = max(graph.cuts(), key=lambda c: len(c.tensors))
    assert len(widest.tensors) == 3
    assert widest.bytes_per_frame == sum(t.bytes_per_frame for t in widest.tensors)


def test_cut_by_index_name_and_names(exported: dict[str, Exported]) -> None:
    graph = exported["branching"].graph
    cut = graph.cuts()[8]
    assert graph.cut(cut.index) == cut
    assert graph.cut(str(cut.index)) == cut
    assert graph.cut(f" {cut.index} ") == cut
    single = next(c for c in graph.cuts() if c.single and c.index > 6)
    assert graph.cut(single.tensors[0].name) == single
    multi = next(c for c in graph.cuts() if len(c.tensors) == 3)
    assert graph.cut(",".join(multi.names)) == multi
    assert graph.cut(" , ".join(reversed(multi.names))) == multi  # order does not matter


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty cut"),
        (" , ", "empty cut"),
        ("no_such_tensor", "has no tensor 'no_such_tensor'"),
        ("/a/Conv_output_0", "no valid cut of model .* carries '/a/Conv_output_0' alone"),
        ("/a/Conv_output_0,/b/b.2/Conv_output_0", "carries exactly /a/Conv_output_0, /b/b.2/"),
        ("0", "cut indices run from 1 to 16"),
        ("17", "cut indices run from 1 to 16"),
        (999, "cut indices run from 1 to 16"),
        ("frame", "carries 'frame' alone"),
        ("logits", "carries 'logits' alone"),
    ],
)
def test_nonsense_cuts_are_refused_with_a_way_forward(
    exported: dict[str, Exported], spec: str | int, message: str
) -> None:
    model = exported["branching"]
    with pytest.raises(PlanningError, match=message) as info:
        model.graph.cut(spec)
    assert f"edgesplit cuts {model.path}" in str(info.value)


def test_a_weight_is_not_a_cut(exported: dict[str, Exported]) -> None:
    model = exported["long_skip"]
    weight = onnx.load(str(model.path)).graph.initializer[0].name
    with pytest.raises(PlanningError, match="is a weight"):
        model.graph.cut(weight)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(PlanningError, match="no ONNX model at"):
        ModelGraph.load(tmp_path / "missing.onnx")
    with pytest.raises(PlanningError, match="no ONNX model at"):
        ModelGraph.load(tmp_path)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all \x00\xff" * 10)
    with pytest.raises(PlanningError, match="is not a valid ONNX model"):
        ModelGraph.load(broken)


def test_a_model_without_a_batch_axis_is_refused(tmp_path: Path) -> None:
    path = export("chain", tmp_path / "static.onnx", dynamic=False)
    with pytest.raises(PlanningError, match="no dynamic batch axis"):
        ModelGraph.load(path)


def test_unsorted_graph_is_refused(exported: dict[str, Exported]) -> None:
    model = onnx.load(str(exported["chain"].path))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    with pytest.raises(PlanningError, match="not topologically sorted"):
        ModelGraph(model)
