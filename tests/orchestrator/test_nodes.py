"""Node-level facts: Constant values as weights, and what subgraphs read from outside."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.graph import ModelGraph
from edgesplit.orchestrator.nodes import constant_tensor
from tests.orchestrator.pipeline import session


@pytest.mark.parametrize(
    ("attr", "value", "expected"),
    [
        ("value_float", 0.5, np.float32(0.5)),
        ("value_floats", [1.0, 2.0], np.array([1, 2], np.float32)),
        ("value_int", 3, np.int64(3)),
        ("value_ints", [0, 1], np.array([0, 1], np.int64)),
        (
            "value",
            numpy_helper.from_array(np.ones((2, 2), np.float16)),
            np.ones((2, 2), np.float16),
        ),
    ],
)
def test_constant_values_become_weights(attr: str, value: object, expected: object) -> None:
    attrs: dict[str, Any] = {attr: value}
    node = helper.make_node("Constant", [], ["c"], **attrs)
    tensor = constant_tensor(node)
    assert tensor.name == "c"
    got = numpy_helper.to_array(tensor)
    np.testing.assert_array_equal(got, np.asarray(expected))
    assert got.dtype == np.asarray(expected).dtype


def test_a_string_constant_is_refused() -> None:
    node = helper.make_node("Constant", [], ["c"], value_string="hello")
    with pytest.raises(PlanningError, match="cannot turn into a weight"):
        constant_tensor(node)


def _if_model() -> onnx.ModelProto:
    """x -> a = Relu(x) -> b = Neg(a) -> If(flag) { a + b } else { a - b }: the If reads `a`
    only from inside its branches."""
    then = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N", 4])],
    )
    orelse = helper.make_graph(
        [helper.make_node("Sub", ["a", "b"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 4])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["a"]),
            helper.make_node("Neg", ["a"], ["b"]),
            helper.make_node(
                "Constant", [], ["flag"], value=numpy_helper.from_array(np.array(True))
            ),
            helper.make_node("If", ["flag"], ["y"], then_branch=then, else_branch=orelse),
        ],
        "if_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_tensors_read_inside_subgraphs_cross_the_cut() -> None:
    model = _if_model()
    graph = ModelGraph(model)
    assert graph.node_count == 3, "the Constant became a weight"
    after_neg = graph.cut(2)
    assert after_neg.names == ("a", "b")
    stages = graph.split([after_neg])
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    (want,) = session(model.SerializeToString()).run(None, {"x": x})
    a, b = session(stages[0].onnx_bytes).run(["a", "b"], {"x": x})
    (got,) = session(stages[1].onnx_bytes).run(None, {"a": a, "b": b})
    np.testing.assert_array_equal(got, want)
