"""Activation maps and conv filters: right shapes and order, the layer's own weights, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from transferlab.backbones import create_backbone
from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.models.lookup import build_named_model
from transferlab.viz import activation_maps, conv_filters


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_backbone("tiny_cnn", weights="none").eval()


def test_top_channels_are_the_most_active_ones(tiny):
    image = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(1))
    (grid,) = activation_maps(tiny, image, ["stage1"], count=5, order="top")
    full = tiny.body.stage1(tiny.body.stem(image[None]))[0].detach()  # (16, 8, 8)
    means = full.mean(dim=(1, 2))
    assert grid.shape == (16, 8, 8) and grid.maps.shape == (5, 8, 8)
    assert list(grid.channels) == torch.argsort(means, descending=True)[:5].tolist()
    np.testing.assert_allclose(grid.maps[0], full[grid.channels[0]].numpy(), rtol=1e-5, atol=1e-6)
    assert list(grid.strengths) == sorted(grid.strengths, reverse=True)


def test_first_channels_and_several_layers_in_one_pass(tiny):
    grids = activation_maps(tiny, torch.zeros(1, 3, 32, 32), ["stem", "stage2"], count=40, order="first")
    assert [g.layer for g in grids] == ["stem", "stage2"]
    assert grids[0].channels == tuple(range(8)) and grids[1].channels == tuple(range(32))  # capped at C
    assert grids[1].to_dict()["shape"] == [32, 4, 4]


def test_layers_without_maps_or_unknown_names_are_clear_errors(tiny):
    with pytest.raises(TransferlabError, match="'head' has no spatial output .*stage2"):
        activation_maps(tiny, torch.zeros(3, 32, 32), ["head"])
    with pytest.raises(UnknownNameError, match="unknown layer 'stage3': did you mean stage2"):
        activation_maps(tiny, torch.zeros(3, 32, 32), ["stage3"])
    with pytest.raises(TransferlabError, match="no spatial output"):  # 1x1 maps say nothing
        activation_maps(tiny, torch.zeros(3, 8, 8), ["stage2"])
    assert not any(m._forward_hooks for m in tiny.modules())


def test_first_layer_filters_are_rgb_tiles_of_the_layer_weights(tiny):
    bank = conv_filters(tiny)
    assert bank.layer == "stem.0" and bank.kind == "rgb" and bank.weights.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(bank.weights, tiny.body.stem[0].weight.detach().numpy())
    deeper = conv_filters(tiny, "stage2.0", in_count=4)
    assert deeper.kind == "per-channel" and deeper.weights.shape == (8, 4, 3, 3)
    assert deeper.total_filters == 32 and deeper.in_channels == 16


def test_depthwise_and_pointwise_convolutions():
    with torch.device("meta"):
        lite = create_backbone("efficientnet_lite0", weights="none")
    lite.body.to_empty(device="cpu")
    depthwise = conv_filters(lite, "blocks.1.0.conv_dw")
    assert depthwise.kind == "depthwise" and depthwise.weights.shape == (64, 1, 3, 3) and depthwise.groups == 96
    pointwise = conv_filters(lite, "blocks.1.0.conv_pw")
    assert pointwise.kind == "pointwise" and pointwise.weights.shape == (64, 16, 1, 1)


def test_grey_first_layer_of_a_scratch_model_and_non_conv_error():
    model = build_named_model("mnist-conv")
    assert conv_filters(model).kind == "grey"
    with pytest.raises(TransferlabError, match="is a Flatten, not a convolution.*features.conv2d_1"):
        conv_filters(model, "pre_logits.flatten")


def test_a_plain_module_works_too():
    net = nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Conv2d(4, 2, 3))
    assert conv_filters(net).layer == "0" and conv_filters(net, "2").kind == "per-channel"
