"""A classifier = a backbone's conv base (to an optional layer) + pooled features + a head."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import Backbone
from .heads import Head


class Classifier(nn.Module):
    """Image batch (B, 3, S, S), already normalised -> logits (B, num_classes).

    Args:
        backbone: a `Backbone` built with `include_top=False`.
        head: the classifier on the globally average-pooled features; None uses the
            backbone's own top (scratch CNNs, whose dense layers are part of the spec).
        layer: take features from this named layer instead of the end of the conv base.
    """

    def __init__(self, backbone: Backbone, head: Head | None, layer: str | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.layer = layer

    @property
    def preprocessing(self):
        return self.backbone.preprocessing

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, C) pooled features at `layer`."""
        return self.backbone.features(x, self.layer, pooled=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.backbone(x)
        return self.head(self.pooled_features(x))
