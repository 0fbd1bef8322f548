"""BatchNorm folded into convolutions: the same outputs, the original untouched, unsafe folds refused."""

from __future__ import annotations

import torch
from torch import nn

from transferlab.backbones import create_backbone
from transferlab.models.fold import fold_batch_norm, probe_input


def _trained_statistics(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (fresh ones fold to nothing)."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def test_folded_backbone_gives_the_same_features_and_leaves_the_original_alone():
    base = _trained_statistics(create_backbone("tiny_cnn", "none", include_top=False, input_size=32))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    sample = probe_input(32)
    folded = fold_batch_norm(base, lambda net: net.features(sample, None))
    assert folded is not base and folded.bn_folded
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    images = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded.features(images, None), base.features(images, None), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(folded.features(images, "stage1"), base.features(images, "stage1"),
                                   rtol=1e-4, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert fold_batch_norm(folded, lambda net: net.features(sample, None)) is folded


class _PreNormSkip(nn.Module):
    """The convolution's output feeds its BatchNorm and a skip connection: folding would change the skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.norm(y) + y


def test_a_fold_that_changes_outputs_is_refused():
    model = _trained_statistics(_PreNormSkip())
    sample = probe_input(8)
    assert fold_batch_norm(model, lambda net: net(sample)) is model


def test_networks_without_batch_norm_are_returned_as_they_are():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    sample = probe_input(8)
    assert fold_batch_norm(model, lambda net: net(sample)) is model
