"""Build a zoo model in torch: the network, its weights, and its preprocessing in front.

Only `edgesplit.models.export` imports this (lazily): it needs the torch extra.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from edgesplit.errors import ConfigError
from edgesplit.models.alexnet import AlexNet
from edgesplit.models.assets import fetch
from edgesplit.models.mnist_cnn import MnistCNN
from edgesplit.models.mobilenet_v2 import MobileNetV2
from edgesplit.models.preprocess import FramedModel, GrayFrames, ImageFrames
from edgesplit.models.resnet import resnet18, resnet50
from edgesplit.models.vgg import vgg16
from edgesplit.models.zoo import RANDOM_SEED, ModelInfo, get_model

_NETS: dict[str, Callable[[int], nn.Module]] = {
    "mobilenet_v2": MobileNetV2,
    "mnist_cnn": MnistCNN,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "vgg16": vgg16,
    "alexnet": AlexNet,
}


def build_net(info: ModelInfo, cache: Path) -> nn.Module:
    """The bare network (normalised NCHW float in, logits out), weights loaded, eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        net = _NETS[info.name](info.num_classes)
    if info.weights is not None:
        path = fetch(info.weights, cache)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(
                f"the weights {path} do not fit {info.name}: {first}; delete the file and run again"
            ) from exc
    return net.eval()


def build(name: str, cache: Path) -> FramedModel:
    """The zoo model as exported: uint8 sensor frames in, float32 logits out, eval mode."""
    info = get_model(name)
    preprocess = ImageFrames() if len(info.input_shape) == 3 else GrayFrames()
    model = FramedModel(preprocess, build_net(info, cache))
    return model.eval()
