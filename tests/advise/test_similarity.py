"""Similarity to ImageNet: the pretrained head's confidence and the BatchNorm statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from transferlab.advise.decide import BN_KL_SIMILAR, HEAD_CONFIDENCE_SIMILAR
from transferlab.advise.similarity import _bn_signals, _Moments, measure_similarity
from transferlab.backbones import BackboneChoice
from transferlab.data.decode import resize_shorter

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def _uint8(array: np.ndarray, short_side: int = 256) -> torch.Tensor:
    image = resize_shorter(Image.fromarray(array).convert("RGB"), short_side)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def _textures(count: int) -> list[torch.Tensor]:
    """Grey stripes and speckle, the kind of image no ImageNet class describes."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        x = np.linspace(0, (i + 3) * np.pi, 256)
        grey = 128 + 60 * np.sin(x)[None, :] + rng.normal(0, 25, (256, 256))
        out.append(_uint8(np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)))
    return out


def test_bn_signals_are_zero_for_matching_statistics_and_grow_with_a_shift():
    norm = nn.BatchNorm2d(4).eval()
    norm.running_mean.fill_(1.0)
    norm.running_var.fill_(4.0)
    same, shifted = _Moments(), _Moments()
    torch.manual_seed(0)
    sample = 1.0 + 2.0 * torch.randn(64, 4, 16, 16)
    same.hook(norm, (sample,))
    shifted.hook(norm, (sample + 3.0,))
    matching = _bn_signals([norm], [same])
    moved = _bn_signals([norm], [shifted])
    assert matching["bn_shift"] < 0.02 and matching["bn_kl"] < 1e-3 and matching["bn_layers"] == 1
    assert moved["bn_shift"] == pytest.approx(1.5, abs=0.05) and moved["bn_kl"] == pytest.approx(9 / 8, abs=0.05)


def test_signals_are_none_without_imagenet_weights():
    result = measure_similarity(BackboneChoice("tiny_cnn", "none"), [torch.zeros(3, 32, 32, dtype=torch.uint8)])
    assert result.sample == 0 and result.head_confidence is None and result.bn_kl is None


@pytest.mark.slow
def test_photos_look_like_imagenet_and_textures_do_not():
    from skimage import data

    photos = [_uint8(getattr(data, name)()) for name in PHOTOS]
    like = measure_similarity(BackboneChoice(), photos, device="cpu")
    unlike = measure_similarity(BackboneChoice(), _textures(4), device="cpu")
    assert like.sample == unlike.sample == 4 and like.bn_layers == 49
    assert like.head_confidence > HEAD_CONFIDENCE_SIMILAR > unlike.head_confidence  # the thresholds advise uses
    assert like.head_entropy < unlike.head_entropy
    assert like.bn_kl < BN_KL_SIMILAR < unlike.bn_kl
    assert len(like.imagenet_classes) >= 3 and all(0 < share <= 1 for _, share in like.imagenet_classes)
