"""Export a zoo model to ONNX once and cache it.

The graph takes uint8 sensor frames (`frame`, batch axis N) and returns float32 `logits`;
preprocessing is its first nodes. Exports go through torch's TorchScript-based exporter,
which folds each BatchNorm into the Conv before it. torch is imported here only, inside
the function: a stage process never needs it.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

import onnx

from edgesplit.errors import ConfigError
from edgesplit.log import get_logger
from edgesplit.models.assets import get_asset
from edgesplit.models.tidy import tidy
from edgesplit.models.zoo import RANDOM_SEED, ModelInfo, get_model

# Bump when the exported graph changes for the same weights: cached files are re-exported.
EXPORT_VERSION = 1
OPSET = 17
INPUT_NAME = "frame"
OUTPUT_NAME = "logits"

log = get_logger("models.export")


def fingerprint(info: ModelInfo) -> str:
    """What the exported file depends on: export version, opset and the exact weights."""
    weights = get_asset(info.weights).sha256 if info.weights else f"random-seed-{RANDOM_SEED}"
    key = f"{EXPORT_VERSION}|{OPSET}|{info.name}|{weights}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def onnx_path(name: str, cache: Path) -> Path:
    """Where the model's ONNX file lives in the cache (exported or not)."""
    info = get_model(name)
    return cache / "models" / f"{name}-{fingerprint(info)}.onnx"


def ensure_onnx(name: str, cache: Path, *, force: bool = False) -> Path:
    """The cached ONNX file of a zoo model, exporting it first if needed (or if forced)."""
    path = onnx_path(name, cache)
    if path.is_file() and not force:
        return path
    info = get_model(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    started = time.perf_counter()
    log.info("model_exporting", model=name, path=str(path))
    try:
        _export(info, cache, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "model_exported",
        model=name,
        path=str(path),
        bytes=path.stat().st_size,
        seconds=round(time.perf_counter() - started, 2),
    )
    return path


def _export(info: ModelInfo, cache: Path, out: Path) -> None:
    try:
        import torch  # noqa: PLC0415 - torch is optional and heavy; only export needs it

        from edgesplit.models.build import build  # noqa: PLC0415 - imports torch
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] != "torch":
            raise
        raise ConfigError(
            f"exporting {info.name} needs torch: pip install 'edgesplit[torch]'"
        ) from exc
    model = build(info.name, cache)
    example = torch.zeros((2, *info.input_shape), dtype=getattr(torch, info.input_dtype))
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated but is the one that folds BatchNorm.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(out),
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        )
    proto = tidy(onnx.load(str(out)))
    onnx.helper.set_model_props(
        proto,
        {
            "edgesplit.model": info.name,
            "edgesplit.classes": info.classes,
            "edgesplit.fingerprint": fingerprint(info),
        },
    )
    onnx.save(proto, str(out))
    onnx.checker.check_model(str(out), full_check=True)
