"""The run's loss: class indices or soft labels (MixUp/CutMix), with label smoothing and class weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.config import TrainConfig
from transferlab.engine.optim import make_loss

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [-1.0, 1.5, 0.0]])
LABELS = torch.tensor([0, 2, 1])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_hot_soft_labels_give_the_loss_of_the_indices(smoothing):
    loss = make_loss(TrainConfig(data="x", label_smoothing=smoothing), [0, 1, 2], 3)
    hard = loss(LOGITS, LABELS)
    assert float(loss(LOGITS, nn.functional.one_hot(LABELS, 3).float())) == pytest.approx(float(hard), rel=1e-6)


def test_a_mixed_label_is_the_mixture_of_the_losses():
    loss = make_loss(TrainConfig(data="x"), [0, 1, 2], 3)
    one_hot = nn.functional.one_hot(LABELS, 3).float()
    mixed = 0.7 * one_hot + 0.3 * one_hot.roll(1, 0)
    expected = 0.7 * nn.functional.cross_entropy(LOGITS, LABELS) + 0.3 * nn.functional.cross_entropy(LOGITS, LABELS.roll(1))
    assert float(loss(LOGITS, mixed)) == pytest.approx(float(expected), rel=1e-6)


def test_label_smoothing_still_smooths_a_soft_label():
    smooth = make_loss(TrainConfig(data="x", label_smoothing=0.3), [0, 1, 2], 3)
    soft = torch.tensor([[0.6, 0.4, 0.0]])
    expected = nn.functional.cross_entropy(LOGITS[:1], soft * 0.7 + 0.1)
    assert float(smooth(LOGITS[:1], soft)) == pytest.approx(float(expected), rel=1e-6)
