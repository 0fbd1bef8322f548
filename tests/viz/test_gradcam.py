"""Grad-CAM family: known answers on a toy network, hooks released, frozen and real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from transferlab.backbones import create_backbone
from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.viz import CAM_METHODS, BaseCAM, GradCAM, class_activation_maps


class _Spotter(nn.Module):
    """Class k = mean brightness of colour channel k: a 1x1 conv map, global average pool, linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 2, 1, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[0, 0] = 1.0
            self.features.weight[1, 1] = 1.0
            self.head.weight.copy_(torch.eye(2))

    def forward(self, x):
        return self.head(self.act(self.features(x)).mean(dim=(2, 3)))


def _two_squares(side: int = 16) -> torch.Tensor:
    """Red square top-left (class 0), a dimmer green square bottom-right (class 1)."""
    x = torch.zeros(1, 3, side, side)
    x[0, 0, :6, :6] = 1.0
    x[0, 1, -4:, -4:] = 1.0
    return x


@pytest.mark.parametrize("method", list(CAM_METHODS))
def test_each_method_finds_each_class_where_it_is(method):
    model, x = _Spotter().eval(), _two_squares()
    red, green = class_activation_maps(model, x.repeat(2, 1, 1, 1), "features", [0, 1], method)
    assert red.heatmap.shape == (16, 16) and red.heatmap.dtype == np.float32
    assert red.heatmap.min() == 0.0 and red.heatmap.max() == pytest.approx(1.0)
    assert red.heatmap[:6, :6].mean() > 0.9 and red.heatmap[8:, 8:].max() < 0.05
    assert green.heatmap[-4:, -4:].mean() > 0.9 and green.heatmap[:6, :6].max() < 0.05
    assert red.strongest_unit()[0] < 6 and green.strongest_unit()[0] >= 12
    assert (red.class_index, green.class_index) == (0, 1) and red.method == method


def test_gradcam_on_a_gap_linear_network_is_the_class_activation_map():
    model, x = _Spotter().eval(), _two_squares()
    (cam,) = class_activation_maps(model, x, "act", 0, "gradcam")  # the maps the pooling sees
    maps = torch.relu(model.features(x))[0]  # (2, 16, 16)
    expected = maps[0] / (16 * 16)  # head weight 1, gradient of the mean = 1 / (h w)
    np.testing.assert_allclose(cam.low_res, expected.detach().numpy(), rtol=1e-5, atol=1e-8)
    logits = model(x)[0].detach()
    assert cam.score == pytest.approx(float(logits[0]))
    assert cam.probability == pytest.approx(float(logits.softmax(0)[0]))


def test_predicted_class_by_default_and_per_image_targets():
    model = _Spotter().eval()
    big_green = torch.zeros(1, 3, 16, 16)
    big_green[0, 1] = 1.0
    batch = torch.cat([_two_squares(), big_green])
    assert [c.class_index for c in class_activation_maps(model, batch, "features")] == [0, 1]
    with pytest.raises(ValueError, match="2 images"):
        class_activation_maps(model, batch, "features", [0, 1, 1])
    with pytest.raises(ValueError, match="0..1"):
        class_activation_maps(model, batch, "features", 5)


def test_hooks_are_removed_after_success_and_after_errors():
    model = _Spotter().eval()
    class_activation_maps(model, _two_squares(), "features")
    assert not model.features._forward_hooks
    with pytest.raises(TransferlabError, match="no spatial output"):
        class_activation_maps(model, _two_squares(), "head")
    assert not model.head._forward_hooks
    with pytest.raises(UnknownNameError, match="did you mean features"):
        class_activation_maps(model, _two_squares(), "feature")
    with pytest.raises(UnknownNameError, match="gradcam"):
        class_activation_maps(model, _two_squares(), "features", method="gradcan")


def test_a_new_variant_overrides_only_the_channel_weights():
    class Uniform(BaseCAM):
        method = "uniform"

        def channel_weights(self, activations, gradients):
            return torch.ones_like(gradients.mean(dim=(2, 3), keepdim=True))

    (cam,) = Uniform(_Spotter().eval(), "features")(_two_squares())
    assert cam.heatmap[:6, :6].mean() > 0.9 and cam.heatmap[-4:, -4:].mean() > 0.9  # both squares


def test_frozen_backbone_and_its_grad_flags_are_left_alone():
    torch.manual_seed(0)
    model = create_backbone("tiny_cnn", weights="none").eval().requires_grad_(False)
    cams = class_activation_maps(model, torch.randn(2, 3, 32, 32), "stage2", 3)
    assert all(c.heatmap.shape == (32, 32) and c.low_res.shape == (4, 4) for c in cams)
    assert not any(p.requires_grad for p in model.parameters()) and all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_gradcam_class_is_importable_with_the_method_name():
    assert CAM_METHODS["gradcam"] is GradCAM and set(CAM_METHODS) == {"gradcam", "gradcam++", "hirescam"}
