"""Static costs of a graph: FLOPs per node and memory estimates of prefixes and suffixes.

Everything here is counted per frame from the inferred per-frame shapes (shapes.infer),
over the graph's own node order with Constant nodes turned into weights, exactly as
ModelGraph orders it, so node index i here is node i of a cut's prefix. FLOPs follow the
usual conventions: a multiply-add is 2; Conv is 2*Cout*Hout*Wout*(Cin/group)*kh*kw; Gemm
and MatMul 2*M*N*K; elementwise ops one per output element; data movement 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import onnx
from onnx import helper

from edgesplit.orchestrator.nodes import constant_tensor, consumed, is_constant
from edgesplit.orchestrator.shapes import TensorInfo, infer

_ELEMENTWISE = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal",
        "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "Erf", "Gelu", "Max", "Min", "Sum", "Mean", "BatchNormalization", "Softmax",
        "LogSoftmax", "InstanceNormalization", "LayerNormalization", "Where", "Equal",
    }
)  # fmt: skip
_POOLS = frozenset({"MaxPool", "AveragePool", "LpPool"})
_REDUCTIONS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax"})


def tensor_bytes(t: onnx.TensorProto) -> int:
    itemsize: int = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    return int(math.prod(t.dims)) * itemsize


@dataclass(frozen=True)
class GraphCosts:
    """FLOPs and sizes of one model's nodes, in the order cuts count them."""

    nodes: tuple[onnx.NodeProto, ...]  # Constants removed
    flops: tuple[int, ...]  # per node, per frame
    weights: Mapping[str, int]  # weight (initializer or Constant) -> bytes
    per_frame: Mapping[str, TensorInfo]  # activations with a batch axis and known shape
    inputs: tuple[str, ...]  # the model's activation inputs

    @classmethod
    def of(cls, model: onnx.ModelProto) -> GraphCosts:
        graph = model.graph
        weight_protos = {t.name: t for t in graph.initializer}
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if is_constant(node):
                weight_protos[node.output[0]] = constant_tensor(node)
            else:
                nodes.append(node)
        inputs = [vi for vi in graph.input if vi.name not in weight_protos]
        shapes = infer(model, nodes, inputs, weight_protos.values())
        dims = {name: tuple(t.dims) for name, t in weight_protos.items()}
        flops = tuple(node_flops(n, shapes.per_frame, dims) for n in nodes)
        return cls(
            tuple(nodes),
            flops,
            {name: tensor_bytes(t) for name, t in weight_protos.items()},
            shapes.per_frame,
            tuple(vi.name for vi in inputs),
        )

    def prefix_flops(self, index: int) -> int:
        """FLOPs per frame of the nodes before cut `index`."""
        return sum(self.flops[:index])

    def _weights_of(self, nodes: Sequence[onnx.NodeProto]) -> int:
        read = {name for node in nodes for name in consumed(node)}
        return sum(size for name, size in self.weights.items() if name in read)

    def _largest(self, names: Sequence[str]) -> int:
        sizes = [self.per_frame[n].bytes_per_frame for n in names if n in self.per_frame]
        return max(sizes, default=0)

    def prefix_memory(self, index: int, batch: int) -> int:
        """Bytes: the prefix's weights + twice its largest activation (in and out) at `batch`."""
        nodes = self.nodes[:index]
        produced = [*self.inputs, *(o for n in nodes for o in n.output if o)]
        return self._weights_of(nodes) + 2 * batch * self._largest(produced)

    def suffix_memory(self, index: int, batch: int, incoming: Sequence[str]) -> int:
        """Bytes: the suffix's weights + twice its largest activation at `batch`."""
        nodes = self.nodes[index:]
        produced = [*incoming, *(o for n in nodes for o in n.output if o)]
        return self._weights_of(nodes) + 2 * batch * self._largest(produced)

    def by_runtime_name(self, name: str, op: str) -> int:
        """FLOPs of a node as ONNX Runtime's profiler names it (fused nodes included).

        ORT keeps a node's name, prefixes fused ones with "fused ", and names NCHWc nodes
        after their output tensor ("<output>_nchwc"). A fused node's FLOPs are those of the
        original nodes it covers: from the one whose output it writes, up through inputs,
        to the nearest node of its own op type (Conv+Relu: the Relu's and the Conv's).
        """
        table = self._index
        key = name.removeprefix("fused ").removesuffix("_nchwc")
        at = table.get(key)
        if at is None:
            return 0
        base = op.removeprefix("Fused")
        return sum(self.flops[i] for i in self._path_to(at, base, table))

    @cached_property
    def _index(self) -> dict[str, int]:
        """Node names and output tensor names -> node index."""
        index: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            if node.name:
                index.setdefault(node.name, i)
            for out in node.output:
                index.setdefault(out, i)
        return index

    def _path_to(self, at: int, op: str, table: Mapping[str, int]) -> list[int]:
        """Node `at` and its producers (first inputs first) back to the nearest `op`, 3 deep."""
        path = [at]
        for _ in range(3):
            node = self.nodes[path[-1]]
            if node.op_type == op:
                return path
            producers = [table[i] for i in node.input if i in table and table[i] < path[-1]]
            if not producers:
                break
            path.append(next((p for p in producers if self.nodes[p].op_type == op), producers[0]))
        return path if self.nodes[path[-1]].op_type == op else [at]


def node_flops(
    node: onnx.NodeProto,
    per_frame: Mapping[str, TensorInfo],
    weight_dims: Mapping[str, tuple[int, ...]],
) -> int:
    """FLOPs per frame of one node (0 where its shapes are unknown or it moves data only)."""
    out = per_frame.get(node.output[0]) if node.output else None
    if out is None:
        return 0
    elements = math.prod(out.shape)
    op = node.op_type
    flops = 0
    if op in ("Conv", "ConvTranspose"):
        # Conv weights are (Cout, Cin/group, kh, kw), ConvTranspose's (Cin, Cout/group, kh, kw)
        w = weight_dims.get(node.input[1], ()) if len(node.input) > 1 else ()
        per_element = math.prod(w[1:]) if len(w) >= 2 else 0
        driven = elements if op == "Conv" else _input_elements(node, per_frame)
        flops = 2 * driven * per_element
    elif op in ("Gemm", "MatMul"):
        flops = 2 * elements * _inner_dim(node, per_frame, weight_dims)
    elif op in _POOLS:
        kernel: list[int] = next(
            (list(a.ints) for a in node.attribute if a.name == "kernel_shape"), []
        )
        flops = elements * math.prod(kernel)
    elif op in _REDUCTIONS:
        flops = _input_elements(node, per_frame)
    elif op in _ELEMENTWISE:
        flops = elements
    return flops


def _input_elements(node: onnx.NodeProto, per_frame: Mapping[str, TensorInfo]) -> int:
    first = per_frame.get(node.input[0]) if node.input else None
    return math.prod(first.shape) if first is not None else 0


def _inner_dim(
    node: onnx.NodeProto,
    per_frame: Mapping[str, TensorInfo],
    weight_dims: Mapping[str, tuple[int, ...]],
) -> int:
    """K of a Gemm/MatMul: the activation's last dimension, else from the weight's shape."""
    a = per_frame.get(node.input[0])
    if a is not None and a.shape:
        return a.shape[-1]
    b = weight_dims.get(node.input[1]) if len(node.input) > 1 else None
    if b is None or len(b) < 2:
        return 0
    trans_b = any(x.name == "transB" and x.i for x in node.attribute)
    return b[-1] if trans_b else b[-2]
