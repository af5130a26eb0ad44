"""ONNX export: cached by fingerprint, uint8 frames in, logits out, a batch axis everywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgesplit.errors import ConfigError
from edgesplit.models.build import build
from edgesplit.models.export import ensure_onnx, onnx_path

EXPORTED = ["mnist_cnn", "mobilenet_v2", "resnet18", "resnet50", "alexnet"]


def _run(path: Path, frames: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"frame": frames})
    assert isinstance(logits, np.ndarray)
    return logits


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "alexnet"])
def test_random_models_export_with_a_dynamic_batch_axis(cache: Path, name: str) -> None:
    path = ensure_onnx(name, cache)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)
    three = _run(path, frames)
    one = _run(path, frames[:1])
    assert three.shape == (3, 1000)
    assert one.shape == (1, 1000)
    assert np.isfinite(three).all()
    np.testing.assert_allclose(one[0], three[0], rtol=1e-4, atol=1e-4)


def test_vgg16_takes_frames_and_gives_logits() -> None:
    # Its ONNX file is 553 MB: the suite checks the torch model only.
    model = build("vgg16", Path("unused: random weights"))
    with torch.no_grad():
        out = model(torch.zeros((1, 224, 224, 3), dtype=torch.uint8))
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("name", EXPORTED)
def test_the_graph_takes_frames_and_every_tensor_has_the_batch_axis(cache: Path, name: str) -> None:
    model = onnx.shape_inference.infer_shapes(onnx.load(str(ensure_onnx(name, cache))))
    graph = model.graph
    (frame,) = graph.input
    (logits,) = graph.output
    assert frame.name == "frame"
    assert frame.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert logits.name == "logits"
    assert logits.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {n.op_type for n in graph.node}.isdisjoint({"Constant", "Identity", "Shape"})
    assert graph.node[0].op_type in {"Transpose", "Unsqueeze"}  # preprocessing comes first
    for value in [*graph.value_info, logits]:
        assert value.type.tensor_type.shape.dim[0].dim_param == "N", value.name
    props = {p.key: p.value for p in model.metadata_props}
    assert props["edgesplit.model"] == name


def test_the_cached_file_is_reused_and_force_exports_again(tmp_path: Path) -> None:
    path = ensure_onnx("mnist_cnn", tmp_path)
    assert path == onnx_path("mnist_cnn", tmp_path)
    assert path.parent == tmp_path / "models"
    assert path.name.startswith("mnist_cnn-")
    first = path.stat().st_mtime_ns
    assert ensure_onnx("mnist_cnn", tmp_path) == path
    assert path.stat().st_mtime_ns == first
    assert ensure_onnx("mnist_cnn", tmp_path, force=True) == path
    assert path.stat().st_mtime_ns != first
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_random_weights_are_the_same_every_time() -> None:
    a = build("resnet18", Path("unused")).state_dict()
    b = build("resnet18", Path("unused")).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_without_torch_export_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"pip install 'edgesplit\[torch\]'"):
        ensure_onnx("mnist_cnn", tmp_path)
    assert not list((tmp_path / "models").iterdir())
