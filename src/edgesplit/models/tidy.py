"""Tidy an exported ONNX graph: every constant is an initializer, every node computes.

The legacy exporter leaves `Constant` nodes (ReLU6's clip bounds, Unsqueeze's axes) and
`Identity` nodes that alias one shared initializer. Neither computes anything, and both
produce tensors without a batch axis; once they are initializers, every node output in
the graph is an activation with a leading batch axis, which is what graph cutting wants.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper


def tidy(model: onnx.ModelProto) -> onnx.ModelProto:
    """Turn Constant nodes into initializers and drop Identity nodes on initializers (in place)."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    graph_outputs = {out.name for out in graph.output}
    renames: dict[str, str] = {}
    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        inputs = [renames.get(name, name) for name in node.input]
        del node.input[:]
        node.input.extend(inputs)
        out = node.output[0] if len(node.output) == 1 else None
        if out is None or out in graph_outputs:
            kept.append(node)
        elif node.op_type == "Constant" and _is_tensor_constant(node):
            value = onnx.helper.get_attribute_value(node.attribute[0])
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(value), out))
            initializers.add(out)
        elif node.op_type == "Identity" and node.input[0] in initializers:
            renames[out] = node.input[0]
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    return model


def _is_tensor_constant(node: onnx.NodeProto) -> bool:
    return len(node.attribute) == 1 and node.attribute[0].name == "value"
