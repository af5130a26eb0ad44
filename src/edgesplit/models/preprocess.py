"""Preprocessing as the first layers of the graph: sensor frames in, normalised tensors out.

A stage 0 then takes frames exactly as a sensor gives them (uint8, channels last), and
nothing but the model decides how they are scaled. Resizing and cropping stay with the
producer. The per-channel constants are persistent buffers so that the exported graph
holds them as initializers, not as Constant nodes.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class ImageFrames(nn.Module):
    """uint8 (N, H, W, C) -> float32 (N, C, H, W), (x / 255 - mean) / std per channel."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
        self.register_buffer("scale", (1.0 / (255.0 * s)).float())
        self.register_buffer("shift", (m / s).float())

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = frame.permute(0, 3, 1, 2).to(torch.float32)
        return x * self.scale - self.shift


class GrayFrames(nn.Module):
    """uint8 (N, H, W) -> float32 (N, 1, H, W), (x / 255 - mean) / std."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(1.0 / (255.0 * std), dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(mean / std, dtype=torch.float32))

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = frame.unsqueeze(1).to(torch.float32)
        return x * self.scale - self.shift


class FramedModel(nn.Module):
    """A network behind its preprocessing; `net` keeps the original state-dict key names."""

    def __init__(self, preprocess: nn.Module, net: nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.net = net

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.preprocess(frame))
        return out
