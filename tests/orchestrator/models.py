"""Small torch models shaped like the zoo's, exported the way the zoo exports them.

Each takes a uint8 frame and does its own preprocessing (Cast, Div, Sub, Transpose)
first, as the zoo's models do; BatchNorm layers fold into the Conv before them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(),
    )


def image_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> normalized float (N, C, H, W)."""
    return x.float().div(255.0).sub(0.45).div(0.225).permute(0, 3, 1, 2)


class Chain(nn.Module):
    """An MNIST-like chain whose flatten is a `view` (Shape/Gather/Concat/Reshape in ONNX)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float().div(255.0).sub(0.1307).div(0.3081).unsqueeze(1)
        y = self.pool(self.conv2(self.pool(self.conv1(y))))
        y = y.view(y.size(0), -1)
        logits: torch.Tensor = self.fc2(torch.relu(self.fc1(y)))
        return logits


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand, depthwise, project, and a skip Add when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        hidden = cin * expand
        self.skip = stride == 1 and cin == cout
        self.body = nn.Sequential(
            conv_bn(cin, hidden, 1),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.body(x)
        return x + y if self.skip else y


class Residual(nn.Module):
    """A tiny MobileNetV2: stem, inverted residual blocks with skip Adds, pooled head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2)
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1), InvertedResidual(16, 24, 2), InvertedResidual(24, 24, 1)
        )
        self.head = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(image_to_float(x)))
        logits: torch.Tensor = self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))
        return logits


class Branching(nn.Module):
    """Inception-like: three branches computed one after the other, then concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2)
        self.a = nn.Conv2d(8, 8, 1)
        self.b = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1))
        self.c = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(8, 8, 1))
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(image_to_float(x))
        y = torch.relu(torch.cat([self.a(s), self.b(s), self.c(s)], dim=1))
        logits: torch.Tensor = self.head(y.mean(dim=(2, 3)))
        return logits


class LongSkip(nn.Module):
    """A skip connection over three convolutions: it crosses every cut between them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8, 3)
        self.f1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.f2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.f3 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(image_to_float(x))
        z = self.f3(self.f2(self.f1(y))) + y
        logits: torch.Tensor = self.head(z.amax(dim=(2, 3)))
        return logits


MODELS: dict[str, type[nn.Module]] = {
    "chain": Chain,
    "residual": Residual,
    "branching": Branching,
    "long_skip": LongSkip,
}


FRAMES: dict[str, tuple[int, ...]] = {
    "chain": (28, 28),
    "residual": (32, 32, 3),
    "branching": (24, 24, 3),
    "long_skip": (16, 16, 3),
}


def export(name: str, path: Path, *, dynamic: bool = True) -> Path:
    """Export a freshly initialized test model as the zoo does."""
    torch.manual_seed(sum(map(ord, name)))
    module = MODELS[name]().eval()
    with torch.no_grad():  # random BatchNorm statistics, so that folding matters
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    sample = torch.zeros((1, *FRAMES[name]), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            module,
            (sample,),
            str(path),
            dynamo=False,
            opset_version=17,
            do_constant_folding=True,
            input_names=["frame"],
            output_names=["logits"],
            dynamic_axes={"frame": {0: "N"}, "logits": {0: "N"}} if dynamic else None,
        )
    return path
