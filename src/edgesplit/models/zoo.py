"""The model zoo: what each model takes, what it predicts, where its weights come from.

Plain metadata, no torch: a stage, a producer or the CLI can ask about a model without
the torch extra. The torch definitions live in one module per architecture family and are
built by `edgesplit.models.build`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesplit.errors import ConfigError

# Random-initialised models draw their weights from this seed: the same graph every export.
RANDOM_SEED = 0
IMAGENET_FRAME = (224, 224, 3)
MNIST_FRAME = (28, 28)


@dataclass(frozen=True)
class ModelInfo:
    """One model of the zoo.

    `input_shape` is one sensor frame as it comes, without the batch axis (a camera frame
    is uint8 H x W x C); the exported graph scales and normalises it itself. `weights` names
    the pinned asset of a pretrained model; a model without one is random-initialised
    from a fixed seed and good for timing only.
    """

    name: str
    description: str
    input_shape: tuple[int, ...]
    input_dtype: str
    classes: str
    num_classes: int
    pretrained: bool
    weights: str | None = None

    def __post_init__(self) -> None:
        if self.pretrained != (self.weights is not None):
            raise ConfigError(f"model {self.name}: pretrained models name a weights asset")


_MODELS = (
    ModelInfo(
        "mobilenet_v2",
        "MobileNetV2 (torchvision layout), 3.5 M parameters, ImageNet-1k weights",
        IMAGENET_FRAME,
        "uint8",
        "imagenet",
        1000,
        pretrained=True,
        weights="mobilenet_v2_weights",
    ),
    ModelInfo(
        "mnist_cnn",
        "3-conv CNN of digit-recognizer-py, 0.39 M parameters, trained on MNIST",
        MNIST_FRAME,
        "uint8",
        "mnist",
        10,
        pretrained=True,
        weights="mnist_cnn_weights",
    ),
    ModelInfo(
        "resnet18",
        "ResNet-18 (torchvision layout), random weights, 11.7 M parameters",
        IMAGENET_FRAME,
        "uint8",
        "imagenet",
        1000,
        pretrained=False,
    ),
    ModelInfo(
        "resnet50",
        "ResNet-50 (torchvision layout), random weights, 25.6 M parameters",
        IMAGENET_FRAME,
        "uint8",
        "imagenet",
        1000,
        pretrained=False,
    ),
    ModelInfo(
        "vgg16",
        "VGG-16 (torchvision layout), random weights, 138 M parameters",
        IMAGENET_FRAME,
        "uint8",
        "imagenet",
        1000,
        pretrained=False,
    ),
    ModelInfo(
        "alexnet",
        "AlexNet (torchvision layout), random weights, 61 M parameters",
        IMAGENET_FRAME,
        "uint8",
        "imagenet",
        1000,
        pretrained=False,
    ),
)

MODELS: dict[str, ModelInfo] = {m.name: m for m in _MODELS}


def list_models() -> list[ModelInfo]:
    """Every model of the zoo, in a stable order."""
    return list(_MODELS)


def get_model(name: str) -> ModelInfo:
    """The model's metadata, or a ConfigError that lists the known names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError(f"unknown model {name!r}; known models: {known}") from None
