"""MobileNetV2 with torchvision's real ImageNet weights, before and after ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from edgesplit.models.assets import fetch
from edgesplit.models.build import build
from edgesplit.models.classes import class_names
from edgesplit.models.export import ensure_onnx
from edgesplit.models.mobilenet_v2 import MobileNetV2
from edgesplit.producers.sources import photos, resize_center_crop

CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def session(cache: Path) -> ort.InferenceSession:
    return ort.InferenceSession(
        str(ensure_onnx("mobilenet_v2", cache)), providers=["CPUExecutionProvider"]
    )


def _centre(cache: Path, asset: str) -> np.ndarray:
    with Image.open(fetch(asset, cache)) as image:
        return resize_center_crop(image.convert("RGB"), 224)


def _top5(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(logits)[::-1][:5]]


def test_the_torchvision_state_dict_loads_strict(cache: Path) -> None:
    state = torch.load(fetch("mobilenet_v2_weights", cache), map_location="cpu", weights_only=True)
    result = MobileNetV2().load_state_dict(state, strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys


def test_onnx_matches_torch_on_real_photos(cache: Path, session: ort.InferenceSession) -> None:
    frames = np.stack([s.array for s in photos(6, seed=3, cache=cache)])
    with torch.no_grad():
        expected = build("mobilenet_v2", cache)(torch.from_numpy(frames)).numpy()
    (got,) = session.run(["logits"], {"frame": frames})
    assert got.shape == (6, 1000)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-4


def test_chelsea_is_a_cat(cache: Path, session: ort.InferenceSession) -> None:
    (logits,) = session.run(["logits"], {"frame": _centre(cache, "photo_chelsea")[None]})
    names = class_names("imagenet", cache)
    top5 = _top5(logits[0])
    print("chelsea.png top-5:", [names[i] for i in top5])
    assert top5[0] in CATS


@pytest.mark.parametrize(
    ("photo", "sensible"),
    [
        ("photo_coffee", {967, 968, 504}),  # espresso, cup, coffee mug
        ("photo_motorcycle", {665, 670}),  # moped, motor scooter
        ("photo_china", {698, 663}),  # palace, monastery
        ("photo_rocket", {812, 657}),  # space shuttle, missile
    ],
)
def test_other_photos_get_sensible_classes(
    cache: Path, session: ort.InferenceSession, photo: str, sensible: set[int]
) -> None:
    (logits,) = session.run(["logits"], {"frame": _centre(cache, photo)[None]})
    names = class_names("imagenet", cache)
    top5 = _top5(logits[0])
    print(f"{photo} top-5:", [names[i] for i in top5])
    assert top5[0] in sensible
