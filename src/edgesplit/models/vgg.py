"""VGG-16 (configuration D, no batch norm) in torchvision's layout (Simonyan & Zisserman, 2014)."""

from __future__ import annotations

import torch
from torch import nn

_POOL = 0
# Output channels of each 3x3 conv; _POOL marks a 2x2 max-pool.
_VGG16: tuple[int, ...] = (
    *(64, 64, _POOL),
    *(128, 128, _POOL),
    *(256, 256, 256, _POOL),
    *(512, 512, 512, _POOL),
    *(512, 512, 512, _POOL),
)


def _features(config: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for v in config:
        if v == _POOL:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(
        self, config: tuple[int, ...] = _VGG16, num_classes: int = 1000, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = _features(config)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        x = torch.flatten(x, 1)
        out: torch.Tensor = self.classifier(x)
        return out


def vgg16(num_classes: int = 1000) -> VGG:
    return VGG(_VGG16, num_classes)
