"""Build one stage's ONNX model: a run of nodes with its own inputs, outputs and weights."""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import helper

from edgesplit.errors import PlanningError
from edgesplit.orchestrator.shapes import TensorInfo


def stage_model(
    source: onnx.ModelProto,
    *,
    name: str,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    weights: Sequence[onnx.TensorProto],
    value_info: Sequence[onnx.ValueInfoProto],
    batch_symbol: str,
) -> bytes:
    """The serialized, checked model of one stage; opsets and IR version as in `source`."""
    graph = helper.make_graph(
        list(nodes),
        name,
        [t.value_info(batch_symbol) for t in inputs],
        [t.value_info(batch_symbol) for t in outputs],
        initializer=list(weights),
        value_info=list(value_info),
    )
    model = helper.make_model(
        graph,
        opset_imports=list(source.opset_import),
        producer_name="edgesplit",
        doc_string=f"stage {name} of {source.graph.name or 'a model'}",
    )
    model.ir_version = source.ir_version
    model.functions.extend(source.functions)
    try:
        data: bytes = model.SerializeToString()
        onnx.checker.check_model(data)
    except (ValueError, onnx.checker.ValidationError) as exc:
        raise PlanningError(f"the stage model {name} is not valid ONNX: {exc}") from exc
    return data
