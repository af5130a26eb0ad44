"""The digit-recognizer CNN with its real weights, on 5,000 real MNIST digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from edgesplit.models.assets import fetch
from edgesplit.models.build import build
from edgesplit.models.export import ensure_onnx
from edgesplit.models.mnist_cnn import MnistCNN
from edgesplit.producers.sources import mnist


def test_the_digit_recognizer_state_dict_loads_strict(cache: Path) -> None:
    state = torch.load(fetch("mnist_cnn_weights", cache), map_location="cpu", weights_only=True)
    result = MnistCNN().load_state_dict(state, strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys


def test_onnx_accuracy_on_all_5000_digits(cache: Path) -> None:
    samples = list(mnist(None, cache))
    frames = np.stack([s.array for s in samples])
    labels = np.array([s.label for s in samples])
    session = ort.InferenceSession(
        str(ensure_onnx("mnist_cnn", cache)), providers=["CPUExecutionProvider"]
    )
    (logits,) = session.run(["logits"], {"frame": frames})
    assert logits.shape == (5000, 10)
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    print(f"mnist_cnn ONNX accuracy on 5,000 MNIST digits: {accuracy:.4f}")
    assert accuracy >= 0.99

    with torch.no_grad():
        expected = build("mnist_cnn", cache)(torch.from_numpy(frames[:64])).numpy()
    assert np.abs(logits[:64] - expected).max() < 1e-4


def test_preprocessing_is_mnist_normalisation(cache: Path) -> None:
    model = build("mnist_cnn", cache)
    frame = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    out = model.preprocess(frame)
    assert out.shape == (1, 1, 1, 2)
    expected = (torch.tensor([0.0, 1.0]) - 0.1307) / 0.3081
    assert torch.allclose(out.flatten(), expected, atol=1e-6)
