"""`edgesplit cuts`: where a model can be cut, and what crosses each cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgesplit.cli.options import console, err_console
from edgesplit.config import cache_dir
from edgesplit.orchestrator.graph import Cut, ModelGraph, TensorInfo


def _shape(t: TensorInfo) -> str:
    return "x".join(str(d) for d in t.shape)


def _kib(n_bytes: int) -> str:
    kib = n_bytes / 1024
    return f"{kib:,.1f}" if kib >= 10 else f"{kib:.2f}"


def _tensor_json(t: TensorInfo) -> dict[str, Any]:
    return {
        "name": t.name,
        "dtype": t.dtype,
        "shape": list(t.shape),
        "bytes_per_frame": t.bytes_per_frame,
    }


def _cut_json(graph: ModelGraph, cut: Cut) -> dict[str, Any]:
    return {
        "index": cut.index,
        "after_node": cut.after_node,
        "op_type": graph.op_type(cut),
        "tensors": [_tensor_json(t) for t in cut.tensors],
        "bytes_per_frame": cut.bytes_per_frame,
        "single": cut.single,
    }


def cuts(
    model: Annotated[
        str,
        typer.Argument(help="An .onnx file, or a zoo model name (see `edgesplit models list`)."),
    ],
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Also list cuts that several tensors cross (skip connections, branches)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per cut.")] = False,
) -> None:
    """List where MODEL can be cut: index, node, crossing tensors and KiB per frame.

    Use an index or a tensor name from this list with `edgesplit plan manual --cut`.
    """
    path = Path(model)
    if not path.exists() and path.suffix != ".onnx":
        from edgesplit.models.export import ensure_onnx  # noqa: PLC0415 - may import torch

        with err_console.status(f"preparing {model} (exported to ONNX once, then cached)..."):
            path = ensure_onnx(model, cache_dir())
    graph = ModelGraph.load(path, source=model)
    valid = graph.cuts()
    shown = [c for c in valid if all_ or c.single]
    if as_json:
        for cut in shown:
            typer.echo(json.dumps(_cut_json(graph, cut)))
        return
    for role, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for t in tensors:
            console.print(
                f"model {role}: {t.name} {t.dtype} N x {_shape(t)} "
                f"({t.bytes_per_frame:,} bytes per frame)",
                highlight=False,
            )
    table = Table(title=f"cuts of {model} ({graph.node_count} nodes)")
    for col in ("index", "after node", "op", "tensor", "shape", "dtype", "KiB/frame"):
        table.add_column(
            col,
            justify="right" if col in ("index", "KiB/frame") else "left",
            overflow="fold",  # names are what `plan manual --cut` takes: never cut them short
        )
    for cut in shown:
        table.add_row(
            str(cut.index),
            cut.after_node,
            graph.op_type(cut),
            "\n".join(t.name for t in cut.tensors),
            "\n".join(_shape(t) for t in cut.tensors),
            "\n".join(t.dtype for t in cut.tensors),
            _kib(cut.bytes_per_frame),
        )
    console.print(table)
    hidden = len(valid) - len(shown)
    summary = f"{len(shown)} of {len(valid)} valid cuts shown"
    console.print(
        f"{summary}; --all adds {hidden} that several tensors cross" if hidden else summary,
        style="dim",
    )
