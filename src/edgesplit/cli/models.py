"""`edgesplit models`: the model zoo and its ONNX exports."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import console, err_console
from edgesplit.config import cache_dir
from edgesplit.models.export import ensure_onnx, onnx_path
from edgesplit.models.zoo import ModelInfo, list_models

app = typer.Typer(
    help="The model zoo: pretrained MobileNetV2 (ImageNet) and an MNIST CNN, plus "
    "random-weight ResNet-18/50, VGG-16 and AlexNet for timing. Exported to ONNX once, "
    "cached per user.",
    no_args_is_help=True,
)


def _weights(info: ModelInfo) -> str:
    if not info.pretrained:
        return "random (timing only)"
    return f"pretrained {'ImageNet' if info.classes == 'imagenet' else info.classes.upper()}"


@app.command("list")
def list_cmd() -> None:
    """List the models: input frame, classes and where the weights come from."""
    table = Table(title="edgesplit model zoo")
    for col in ("name", "input", "classes", "weights"):
        table.add_column(col)
    for info in list_models():
        shape = "x".join(str(d) for d in info.input_shape)
        table.add_row(
            info.name,
            f"{info.input_dtype} {shape}",
            f"{info.classes} ({info.num_classes})",
            _weights(info),
        )
    console.print(table)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Model name (see `edgesplit models list`).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Also copy the ONNX file here.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Export again even if the cache has the file.")
    ] = False,
) -> None:
    """Export a model to ONNX (uint8 frames in, logits out) into the per-user cache."""
    cache = cache_dir()
    cached = not force and onnx_path(name, cache).is_file()
    started = time.perf_counter()
    with err_console.status(f"exporting {name} to ONNX..."):
        path = ensure_onnx(name, cache, force=force)
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, output)
            path = output
    seconds = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    how = "cached" if cached else "exported"
    console.print(
        f"{path}  ({size_mb:.1f} MB, {how} in {seconds:.1f} s)", highlight=False, soft_wrap=True
    )
