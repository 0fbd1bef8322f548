"""Architectures that timm lacks, given timm's interface (forward_features / forward_head)."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeNetAdapter(nn.Module):
    """torchvision's SqueezeNet with `forward_features`, `forward_head`, `reset_classifier`.

    Attribute names match torchvision's, so torchvision state dicts load unchanged.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.features = net.features
        self.classifier = net.classifier
        self.num_features = 512
        self.num_classes = net.num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 512, H', W')

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return x.mean(dim=(2, 3))
        return torch.flatten(self.classifier(x), 1)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        if num_classes == 0:
            self.classifier = nn.AdaptiveAvgPool2d(1)
            return
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(self.num_features, num_classes, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TinyCNN(nn.Module):
    """A tiny conv net (3 stages, ~6k parameters) for fast tests of the plumbing."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = _conv_bn(3, 8, stride=2)
        self.stage1 = _conv_bn(8, 16, stride=2)
        self.stage2 = _conv_bn(16, 32, stride=2)
        self.num_features = 32
        self.num_classes = num_classes
        self.head = nn.Linear(32, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(self.stage1(self.stem(x)))  # (B, 32, H/8, W/8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(32, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )
