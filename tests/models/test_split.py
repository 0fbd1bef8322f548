"""A backbone cut where training starts: suffix(prefix(x)) is the conv base, or no cut at all."""

from __future__ import annotations

import torch
from torch import nn

from transferlab.backbones import create_backbone
from transferlab.models.classifier import Classifier
from transferlab.models.freezing import freeze_except, trainable_groups
from transferlab.models.heads import Head
from transferlab.models.split import SuffixClassifier, split_backbone


def _frozen_but_last(groups: int):
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    freeze_except(backbone, trainable_groups(backbone, groups))
    return backbone.eval()


def test_prefix_then_suffix_is_the_classifier_and_shares_its_parameter_names():
    backbone = _frozen_but_last(1)
    split = split_backbone(backbone)
    assert split is not None and 0 < split.prefix_share < 1
    assert not any(p.requires_grad for p in split.prefix.parameters())
    assert any(p.requires_grad for p in split.suffix.parameters())
    classifier = Classifier(backbone, Head(backbone.feature_dim, 3, 0, 0.0)).eval()
    wrapped = SuffixClassifier(classifier, split.suffix).eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(split.prefix(images)), classifier(images))
    assert list(wrapped.state_dict()) == list(classifier.state_dict())


def test_no_split_when_nothing_is_frozen_or_nothing_trains():
    assert split_backbone(_frozen_but_last(-1)) is None
    assert split_backbone(_frozen_but_last(0)) is None


class _NotAChain(nn.Module):
    """A forward that adds a skip around its children: no chain of them reproduces it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

    def forward_features(self, x):
        y = self.a(x)
        return y + self.b(y)


def test_a_forward_that_is_not_a_chain_gets_no_split():
    backbone = _frozen_but_last(1)
    body = _NotAChain()
    body.a.requires_grad_(False)
    backbone.body = body
    assert split_backbone(backbone) is None
