"""The optimiser and the loss a run trains with, as its config names them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig


def make_optimizer(name: str, groups: list[dict], weight_decay: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9), Adam, AdamW or RMSprop over parameter groups with their own `lr`."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


def make_loss(config: TrainConfig, train_labels: Sequence[int], num_classes: int) -> nn.Module:
    """Cross-entropy with optional label smoothing and balanced class weights.

    Targets may be class indices (B,) or soft labels (B, K) such as MixUp and CutMix make;
    label smoothing then blends each soft label with the uniform one, as it does a one-hot
    label, and class weights weight each class's term of the sum.
    """
    weight = None
    if config.class_weights:
        counts = np.bincount(np.asarray(train_labels), minlength=num_classes).astype(np.float64)
        weight = torch.as_tensor(len(train_labels) / (num_classes * np.maximum(counts, 1)), dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
