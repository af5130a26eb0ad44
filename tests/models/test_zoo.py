"""The zoo's metadata and class names: plain data, no torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesplit.errors import ConfigError
from edgesplit.models.classes import class_names
from edgesplit.models.zoo import get_model, list_models

NAMES = ["mobilenet_v2", "mnist_cnn", "resnet18", "resnet50", "vgg16", "alexnet"]


def test_the_zoo_lists_every_model() -> None:
    assert [m.name for m in list_models()] == NAMES
    mobilenet = get_model("mobilenet_v2")
    assert mobilenet.input_shape == (224, 224, 3)
    assert mobilenet.input_dtype == "uint8"
    assert (mobilenet.classes, mobilenet.num_classes, mobilenet.pretrained) == (
        "imagenet",
        1000,
        True,
    )
    digits = get_model("mnist_cnn")
    assert (digits.input_shape, digits.classes, digits.num_classes) == ((28, 28), "mnist", 10)
    assert not get_model("resnet50").pretrained


def test_an_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet9'; known models: mobilenet_v2"):
        get_model("resnet9")


def test_imagenet_class_names_are_readable(cache: Path) -> None:
    names = class_names("imagenet", cache)
    assert len(names) == 1000
    assert names[0] == "tench"
    assert names[281] == "tabby"
    assert names[285] == "Egyptian cat"
    assert names[967] == "espresso"


def test_mnist_class_names_are_the_digits() -> None:
    assert class_names("mnist") == [str(d) for d in range(10)]
    with pytest.raises(ConfigError, match="unknown class set"):
        class_names("cifar")
