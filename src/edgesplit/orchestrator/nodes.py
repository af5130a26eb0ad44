"""Node-level facts about an ONNX graph: what each node reads, Constants as weights, order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from edgesplit.errors import PlanningError


def label(node: onnx.NodeProto, index: int) -> str:
    """A node's name, or `op_type#index` when the exporter left it unnamed."""
    return node.name or f"{node.op_type}#{index}"


def is_constant(node: onnx.NodeProto) -> bool:
    return node.op_type == "Constant" and node.domain in ("", "ai.onnx")


def constant_tensor(node: onnx.NodeProto) -> onnx.TensorProto:
    """The value of a Constant node as an initializer named after its output."""
    if len(node.attribute) != 1:
        raise PlanningError(f"Constant node {node.name!r} must have exactly one value attribute")
    attr = node.attribute[0]
    tensor = onnx.TensorProto()
    if attr.name == "value":
        tensor.CopyFrom(attr.t)
    elif attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
        value = onnx.helper.get_attribute_value(attr)
        dtype = np.float32 if attr.name.startswith("value_float") else np.int64
        tensor.CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=dtype)))
    else:
        raise PlanningError(
            f"Constant node {node.name!r} holds a {attr.name}, which edgesplit cannot turn "
            "into a weight; fold it (onnx-simplifier) or export the model without it"
        )
    tensor.name = node.output[0]
    return tensor


def consumed(node: onnx.NodeProto) -> Iterator[str]:
    """Every tensor the node reads: its inputs and what its subgraphs take from outside."""
    yield from (name for name in node.input if name)
    for attr in node.attribute:
        subgraphs = [attr.g] if attr.HasField("g") else []
        for sub in (*subgraphs, *attr.graphs):
            yield from _outer_names(sub)


def _outer_names(graph: onnx.GraphProto) -> Iterator[str]:
    """Names a subgraph reads from the enclosing scope."""
    defined = {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        for name in consumed(node):
            if name not in defined:
                yield name
        defined.update(node.output)


def check_order(
    nodes: Sequence[onnx.NodeProto], inputs: Sequence[str], initializers: Sequence[str]
) -> None:
    """Raise PlanningError unless every node reads only tensors that exist before it."""
    available = {*inputs, *initializers}
    for index, node in enumerate(nodes):
        for name in consumed(node):
            if name not in available:
                raise PlanningError(
                    f"node {label(node, index)} reads {name!r} before any node produces it: "
                    "the graph is not topologically sorted (or the tensor is undefined); "
                    "re-export the model or sort its nodes"
                )
        available.update(name for name in node.output if name)
