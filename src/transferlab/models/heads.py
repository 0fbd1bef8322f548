"""Classifier heads on pooled features: linear, or dense + dropout as in the notes."""

from __future__ import annotations

import torch
from torch import nn


class Head(nn.Module):
    """Pooled features (B, C) -> logits (B, num_classes).

    `hidden=0`: dropout + linear. `hidden>0`: linear-ReLU-dropout-linear (the notes'
    `Dense(256, relu) + Dropout(0.5) + Dense(n)`).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        self.hidden = hidden
        self.dropout = dropout
        if hidden > 0:
            self.layers = nn.Sequential(
                nn.Linear(in_features, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:
            self.layers = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer."""
        return self.layers[-1]

    def config(self) -> dict:
        """Constructor arguments, for saving alongside the weights."""
        return {"in_features": self.in_features, "num_classes": self.num_classes,
                "hidden": self.hidden, "dropout": self.dropout}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)
