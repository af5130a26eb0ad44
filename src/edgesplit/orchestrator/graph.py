"""Where an ONNX graph can be cut, and the stage sub-models between the cuts.

The graph's own node order is the spine: a cut at index i puts `nodes[:i]` before it and
`nodes[i:]` after it. The tensors crossing it are those the prefix produces (or the
model's inputs) that the suffix reads or the model returns; a cut is valid when each
has a fully known per-frame shape behind a leading batch axis. Constant nodes count as
weights: they are copied into every stage that reads them and never cross a cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import onnx

from edgesplit.errors import PlanningError
from edgesplit.log import get_logger
from edgesplit.orchestrator.extract import stage_model
from edgesplit.orchestrator.nodes import check_order, constant_tensor, consumed, is_constant, label
from edgesplit.orchestrator.shapes import TensorInfo, infer

__all__ = ["Cut", "ModelGraph", "StageGraph", "TensorInfo"]

log = get_logger("orchestrator.graph")


@dataclass(frozen=True)
class Cut:
    """A place to cut the graph and the activations that cross it."""

    index: int  # cut after the first `index` nodes of the graph's order (1..n-1)
    after_node: str  # the last node before the cut: its name, or "op_type#i" if unnamed
    tensors: tuple[TensorInfo, ...]  # every activation crossing it, in production order

    @property
    def bytes_per_frame(self) -> int:
        return sum(t.bytes_per_frame for t in self.tensors)

    @property
    def single(self) -> bool:
        """Exactly one tensor crosses."""
        return len(self.tensors) == 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)


@dataclass(frozen=True)
class StageGraph:
    """One stage of a split: its ONNX model and what it receives and sends.

    The record a stage sends on is `outputs + passthrough`: exactly the next cut's tensors
    (the model's outputs after the last stage).
    """

    index: int  # 0..k
    onnx_bytes: bytes = field(repr=False)  # a checked, serialized ONNX model
    inputs: tuple[TensorInfo, ...]  # the stage model's inputs
    outputs: tuple[TensorInfo, ...]  # the stage model's outputs
    passthrough: tuple[TensorInfo, ...]  # arrive with the previous cut, leave unchanged


class ModelGraph:
    """An ONNX model's node order, its valid cuts, and the stage models between cuts."""

    def __init__(self, model: onnx.ModelProto, *, source: str | None = None) -> None:
        graph = model.graph
        self.source = source or graph.name or "MODEL"  # how error messages name the model
        self._model = model
        self._weights = {t.name: t for t in graph.initializer}
        kept: list[onnx.NodeProto] = []
        for node in graph.node:
            if is_constant(node):
                self._weights[node.output[0]] = constant_tensor(node)
            else:
                kept.append(node)
        self._nodes = tuple(kept)
        self.node_count = len(kept)
        inputs = [vi for vi in graph.input if vi.name not in self._weights]
        if not inputs or not graph.output:
            raise PlanningError(f"model {self.source} needs at least one input and one output")
        check_order(self._nodes, [vi.name for vi in inputs], list(self._weights))
        self._shapes = infer(model, self._nodes, inputs, self._weights.values())
        self.inputs = tuple(self._model_tensor(vi.name, "input") for vi in inputs)
        self.outputs = tuple(self._model_tensor(vi.name, "output") for vi in graph.output)
        self._produced_at, self._crossing = self._live_ranges()
        self._cuts = {
            i: cut for i in range(1, self.node_count) if (cut := self._cut_or_none(i)) is not None
        }
        log.debug(
            "graph_analysed",
            model=self.source,
            nodes=self.node_count,
            cuts=len(self._cuts),
            single=sum(c.single for c in self._cuts.values()),
        )

    @classmethod
    def load(cls, path: Path, *, source: str | None = None) -> ModelGraph:
        """Read and check an .onnx file; `source` names the model in messages (the path)."""
        path = Path(path)
        if not path.is_file():
            raise PlanningError(f"no ONNX model at {path}: give the path of an .onnx file")
        try:
            onnx.checker.check_model(str(path))
            model = onnx.load(str(path))
        except (OSError, ValueError, onnx.checker.ValidationError) as exc:
            raise PlanningError(f"{path} is not a valid ONNX model ({exc}); re-export it") from exc
        return cls(model, source=source or str(path))

    @property
    def batch_symbol(self) -> str:
        """The name of the dynamic batch axis of the model's inputs ("N")."""
        return self._shapes.batch_symbol

    def cuts(self) -> list[Cut]:
        """Every valid cut, in order of index."""
        return list(self._cuts.values())

    def op_type(self, cut: Cut) -> str:
        """The op type of the last node before the cut."""
        return self._nodes[cut.index - 1].op_type

    def cut(self, spec: str | int) -> Cut:
        """A valid cut by index ("37" or 37), tensor name, or comma-separated tensor names.

        A name (or set of names) picks the earliest valid cut carrying exactly that tensor
        (or those tensors).
        """
        if isinstance(spec, int):
            return self._cut_at(spec)
        text = spec.strip()
        if re.fullmatch(r"[0-9]+", text):
            return self._cut_at(int(text))
        names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        if not names:
            raise PlanningError(f"an empty cut was asked for; {self._hint()}")
        for name in names:
            if name in self._weights:
                raise PlanningError(
                    f"{name!r} is a weight of model {self.source}, and only activations cross "
                    f"cuts; {self._hint()}"
                )
            if name not in self._produced_at:
                raise PlanningError(f"model {self.source} has no tensor {name!r}; {self._hint()}")
        for cut in self._cuts.values():
            if set(cut.names) == set(names):
                return cut
        what = f"{names[0]!r} alone" if len(names) == 1 else "exactly " + ", ".join(names)
        raise PlanningError(f"no valid cut of model {self.source} carries {what}; {self._hint()}")

    def split(self, cuts: Sequence[Cut]) -> list[StageGraph]:
        """k cuts with strictly increasing indices -> k+1 stage models."""
        plan = list(cuts)
        for cut in plan:
            if self._cuts.get(cut.index) != cut:
                raise PlanningError(
                    f"cut {cut.index} (after {cut.after_node}) is not a valid cut of model "
                    f"{self.source}; {self._hint()}"
                )
        indices = [c.index for c in plan]
        if any(b <= a for a, b in pairwise(indices)):
            raise PlanningError(
                f"cuts must come in strictly increasing order without repeats, got {indices}"
            )
        bounds = [0, *indices, self.node_count]
        records = [self.inputs, *(c.tensors for c in plan), self.outputs]
        stages = [
            self._stage(j, bounds[j], bounds[j + 1], records[j], records[j + 1])
            for j in range(len(plan) + 1)
        ]
        log.debug("model_split", model=self.source, cuts=indices, stages=len(stages))
        return stages

    # --- analysis ------------------------------------------------------------------

    def _model_tensor(self, name: str, role: str) -> TensorInfo:
        info = self._shapes.per_frame.get(name)
        if info is None:
            raise PlanningError(
                f"model {role} {name!r} of {self.source} has no fully known per-frame shape "
                "behind a leading batch axis; export it with fixed frame dimensions and "
                f'dynamic_axes={{"{name}": {{0: "N"}}}}'
            )
        return info

    def _live_ranges(self) -> tuple[dict[str, int], list[tuple[str, ...]]]:
        """Where each activation is produced (-1: a model input), and for each position
        0..n the activations crossing it, in production order."""
        n = self.node_count
        produced_at = {t.name: -1 for t in self.inputs}
        last_read: dict[str, int] = {}
        for i, node in enumerate(self._nodes):
            for name in consumed(node):
                last_read[name] = i
            for name in node.output:
                if name:
                    produced_at[name] = i
        for t in self.outputs:
            last_read[t.name] = n
        crossing = [
            tuple(t for t, at in produced_at.items() if at < i <= last_read.get(t, -1))
            for i in range(n + 1)
        ]
        return produced_at, crossing

    def _trivial(self, names: tuple[str, ...]) -> bool:
        ends = ({t.name for t in self.inputs}, {t.name for t in self.outputs})
        return not names or any(set(names) <= end for end in ends)

    def _cut_or_none(self, i: int) -> Cut | None:
        names = self._crossing[i]
        infos = [self._shapes.per_frame.get(name) for name in names]
        if self._trivial(names) or any(info is None for info in infos):
            return None
        return Cut(i, label(self._nodes[i - 1], i - 1), tuple(t for t in infos if t is not None))

    def _cut_at(self, index: int) -> Cut:
        cut = self._cuts.get(index)
        if cut is not None:
            return cut
        n = self.node_count
        if not 1 <= index < n:
            why = f"cut indices run from 1 to {n - 1} (the graph has {n} nodes)"
        else:
            names = self._crossing[index]
            unshaped = [name for name in names if name not in self._shapes.per_frame]
            after = label(self._nodes[index - 1], index - 1)
            why = (
                f"after {after}, tensor {unshaped[0]!r} crosses without a known per-frame "
                "shape behind a leading batch axis"
                if unshaped
                else f"after {after}, only the model's own inputs or outputs cross"
            )
        raise PlanningError(
            f"{index} is not a valid cut of model {self.source}: {why}; {self._hint()}"
        )

    def _hint(self) -> str:
        return f"list the valid cuts with `edgesplit cuts {self.source} --all`"

    # --- stages --------------------------------------------------------------------

    def _stage(
        self,
        j: int,
        lo: int,
        hi: int,
        incoming: tuple[TensorInfo, ...],
        outgoing: tuple[TensorInfo, ...],
    ) -> StageGraph:
        nodes = self._nodes[lo:hi]
        produced = {name for node in nodes for name in node.output if name}
        reads = list(dict.fromkeys(name for node in nodes for name in consumed(node)))
        inputs = tuple(t for t in incoming if t.name in reads and t.name not in produced)
        outputs = tuple(t for t in outgoing if t.name in produced)
        passthrough = tuple(t for t in outgoing if t.name not in produced)
        if not outputs:
            raise PlanningError(
                f"stage {j} (nodes {lo}..{hi - 1}) of model {self.source} computes nothing "
                "the stages after it read; move or drop one of its cuts"
            )
        returned = {t.name for t in outputs}
        value_info = []
        for name in (n for node in nodes for n in node.output if n and n not in returned):
            info = self._shapes.per_frame.get(name)
            if info is not None:
                value_info.append(info.value_info(self.batch_symbol))
            elif name in self._shapes.value_info:
                value_info.append(self._shapes.value_info[name])
        data = stage_model(
            self._model,
            name=f"{self._model.graph.name or 'model'}_stage{j}",
            nodes=nodes,
            inputs=inputs,
            outputs=outputs,
            weights=[self._weights[name] for name in reads if name in self._weights],
            value_info=value_info,
            batch_symbol=self.batch_symbol,
        )
        return StageGraph(j, data, inputs, outputs, passthrough)
