"""What ONNX shape inference knows about a graph's tensors, with the batch axis found.

A tensor can travel between stages only if its per-frame shape is fully known and it
has a leading batch axis. Symbolic inference loses the batch symbol at many Reshapes
(`x.view(x.size(0), -1)` yields `unk__0`), so the batch axis is found by inferring the
graph twice with two concrete batch sizes: a tensor has one when its leading dimension
follows the batch size and the rest of its shape stays put.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import onnx
from onnx import helper, shape_inference

from edgesplit.errors import PlanningError

# Two batch sizes to infer with; any two distinct values tell the batch axis apart.
_PROBE_BATCHES = (2, 3)
# Initializers with at most this many elements keep their values during inference (shape
# arithmetic reads them); larger ones (weights) travel as typed inputs without data.
_INLINE_ELEMENTS = 1024


def _dtype_table() -> dict[int, tuple[str, int]]:
    """ONNX element type -> (numpy dtype name, bytes per element)."""
    table: dict[int, tuple[str, int]] = {}
    for elem in onnx.TensorProto.DataType.values():
        if elem in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING):
            continue
        try:
            np_dtype = helper.tensor_dtype_to_np_dtype(elem)
        except (KeyError, ValueError):  # a type numpy cannot hold
            continue
        table[elem] = (np_dtype.name, np_dtype.itemsize)
    return table


_DTYPES = _dtype_table()
_ELEM_TYPES: dict[str, int] = {}
for _elem, (_name, _) in sorted(_DTYPES.items()):
    _ELEM_TYPES.setdefault(_name, _elem)
_ITEMSIZES = {name: size for name, size in _DTYPES.values()}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor that can cross a cut: its name, numpy dtype name and per-frame shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]  # per frame: the leading batch axis removed

    @property
    def bytes_per_frame(self) -> int:
        return math.prod(self.shape) * _ITEMSIZES[self.dtype]

    @property
    def elem_type(self) -> int:
        """The ONNX element type (onnx.TensorProto.FLOAT, ...)."""
        return _ELEM_TYPES[self.dtype]

    def value_info(self, batch_symbol: str) -> onnx.ValueInfoProto:
        """A graph input/output declaration with the symbolic batch axis in front."""
        return helper.make_tensor_value_info(self.name, self.elem_type, [batch_symbol, *self.shape])


@dataclass(frozen=True)
class GraphShapes:
    """The outcome of inference over a whole graph."""

    batch_symbol: str
    per_frame: Mapping[str, TensorInfo]  # tensors with a batch axis and a known shape
    value_info: Mapping[str, onnx.ValueInfoProto]  # symbolic inference's view of every tensor


def infer(
    model: onnx.ModelProto,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    initializers: Iterable[onnx.TensorProto],
) -> GraphShapes:
    """Infer the graph made of `nodes` (Constants already turned into `initializers`)."""
    symbols = [_batch_symbol(vi) for vi in inputs]
    light = _light_model(model, nodes, inputs, initializers)
    symbolic = _run(light, "symbolic")
    runs = []
    for batch in _PROBE_BATCHES:
        probe = onnx.ModelProto()
        probe.CopyFrom(light)
        del probe.graph.value_info[:]
        for vi in probe.graph.input[: len(inputs)]:
            vi.type.tensor_type.shape.dim[0].dim_value = batch
        for vi in probe.graph.output:
            vi.type.tensor_type.ClearField("shape")
        runs.append(_shapes(_run(probe, f"batch {batch}")))
    first, second = runs
    per_frame: dict[str, TensorInfo] = {}
    for name, (elem, dims) in first.items():
        other = second.get(name)
        if other is None or elem not in _DTYPES or not dims:
            continue
        tail = tuple(d for d in dims[1:] if d is not None)
        if (
            len(tail) == len(dims) - 1
            and dims[0] == _PROBE_BATCHES[0]
            and other[1] == (_PROBE_BATCHES[1], *tail)
        ):
            per_frame[name] = TensorInfo(name, _DTYPES[elem][0], tail)
    known = {
        vi.name: vi
        for vi in (*symbolic.graph.value_info, *symbolic.graph.output)
        if vi.type.HasField("tensor_type")
    }
    return GraphShapes(symbols[0], per_frame, known)


def _batch_symbol(vi: onnx.ValueInfoProto) -> str:
    dims = vi.type.tensor_type.shape.dim
    if not dims or not dims[0].dim_param:
        raise PlanningError(
            f"model input {vi.name!r} has no dynamic batch axis; export the model with "
            f'dynamic_axes={{"{vi.name}": {{0: "N"}}}} so that stages can take micro-batches'
        )
    symbol: str = dims[0].dim_param
    return symbol


def _light_model(
    model: onnx.ModelProto,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    initializers: Iterable[onnx.TensorProto],
) -> onnx.ModelProto:
    """The graph with large weights replaced by typed inputs: cheap to copy and infer."""
    small: list[onnx.TensorProto] = []
    weights: list[onnx.ValueInfoProto] = []
    for tensor in initializers:
        if math.prod(tensor.dims) <= _INLINE_ELEMENTS:
            small.append(tensor)
        else:
            typed = helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
            weights.append(typed)
    graph = helper.make_graph(
        nodes,
        model.graph.name or "graph",
        [*inputs, *weights],
        list(model.graph.output),
        initializer=small,
        value_info=list(model.graph.value_info),
    )
    light = helper.make_model(graph, opset_imports=list(model.opset_import))
    light.ir_version = model.ir_version
    light.functions.extend(model.functions)
    return light


def _run(model: onnx.ModelProto, what: str) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        raise PlanningError(
            f"ONNX shape inference failed on the model ({what}): {exc}; "
            "check that it loads with onnx.checker.check_model"
        ) from exc


Dims = tuple[int | None, ...]


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, Dims]]:
    """name -> (element type, dims with None where unknown), for tensors of known rank."""
    out: dict[str, tuple[int, Dims]] = {}
    graph = model.graph
    for vi in (*graph.input, *graph.value_info, *graph.output):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
        out[vi.name] = (tt.elem_type, dims)
    return out
