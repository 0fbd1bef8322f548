"""Scratch CNNs from spec strings: grammar, Keras-like names, the notes' parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.backbones import Backbone
from transferlab.errors import TransferlabError, WeightsError
from transferlab.models.scratch import (
    build_scratch_backbone,
    build_scratch_body,
    format_spec,
    is_scratch_spec,
    parse_spec,
)


def own_params(model: nn.Module) -> dict[str, int]:
    """Parameters per named module that owns some directly."""
    counts = {name: sum(p.numel() for p in m.parameters(recurse=False)) for name, m in model.named_modules()}
    return {name: count for name, count in counts.items() if count}


def total_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_notes_conv_dense_counts_per_layer():
    body = build_scratch_body("conv64v-flatten-dense32", num_classes=10, input_size=32)
    assert own_params(body) == {"features.conv2d_1": 1_792, "pre_logits.dense_1": 1_843_232, "classifier": 330}
    assert total_params(body) == 1_845_354
    assert body.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 30, 30)  # 30x30x64 = 57,600


def test_notes_conv_pool_counts_per_layer():
    body = build_scratch_body("conv64v-pool-flatten-dense32", num_classes=10, input_size=32)
    assert own_params(body)["pre_logits.dense_1"] == 460_832
    assert total_params(body) == 462_954
    assert body.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 15, 15)


def test_notes_deeper_model_counts_and_names():
    body = build_scratch_body("conv64-pool-conv64-pool-flatten-dense128", num_classes=10, input_size=32)
    assert own_params(body) == {
        "features.conv2d_1": 1_792,
        "features.conv2d_2": 36_928,
        "pre_logits.dense_1": 524_416,
        "classifier": 1_290,
    }
    assert total_params(body) == 564_426
    names = [name for name, _ in body.named_modules() if name]
    assert names == [
        "features", "features.conv2d_1", "features.max_pooling2d_1", "features.conv2d_2",
        "features.max_pooling2d_2", "pre_logits", "pre_logits.flatten", "pre_logits.dense_1", "classifier",
    ]  # fmt: skip


def test_all_convolutional_counts_with_conv_head():
    spec = "conv96-conv96-conv96s2-conv192-conv192-conv192s2-conv192-conv192k1-convhead-gap"
    body = build_scratch_body(spec, num_classes=10, input_size=32)
    assert list(own_params(body).values()) == [
        2_688, 83_040, 83_040, 166_080, 331_968, 331_968, 331_968, 37_056, 1_930,
    ]  # fmt: skip
    assert isinstance(body.classifier, nn.Conv2d) and body.classifier.kernel_size == (1, 1)
    maps = body.forward_features(torch.zeros(2, 3, 32, 32))
    assert maps.shape == (2, 192, 8, 8)
    assert body.classifier(maps).shape == (2, 10, 8, 8)  # the notes' (None, 8, 8, 10) class maps
    assert body.forward_head(maps).shape == (2, 10)
    assert body.forward_head(maps, pre_logits=True).shape == (2, 192)


def test_conv_head_equals_gap_then_linear():
    conv = build_scratch_body("conv8-convhead", num_classes=4, input_size=16).eval()
    assert format_spec(parse_spec("conv8-convhead")) == "conv8-convhead-gap"
    x = torch.randn(2, 3, 16, 16)
    pooled = conv.forward_head(conv.forward_features(x), pre_logits=True)
    linear = pooled @ conv.classifier.weight.flatten(1).T + conv.classifier.bias
    torch.testing.assert_close(conv(x), linear)


def test_grammar_options_build_the_layers_they_name():
    body = build_scratch_body("conv16k5s2v-bn-pool3-avgpool-dropout0.25-gap-dense8-bn-dropout0.5", 3, 64)
    layers = dict(body.named_modules())
    conv = layers["features.conv2d_1"]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((5, 5), (2, 2), (0, 0))
    assert isinstance(layers["features.batch_normalization_1"], nn.BatchNorm2d)
    assert layers["features.max_pooling2d_1"].kernel_size == 3
    assert isinstance(layers["features.average_pooling2d_1"], nn.AvgPool2d)
    assert layers["features.dropout_1"].p == 0.25
    assert isinstance(layers["pre_logits.batch_normalization_2"], nn.BatchNorm1d)
    assert layers["pre_logits.dropout_2"].p == 0.5
    assert body(torch.randn(2, 3, 64, 64)).shape == (2, 3)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_same_padding_keeps_the_size_and_even_kernels_work():
    body = build_scratch_body("conv4-conv4k5-conv4k4-conv4s2", 2, 17)
    assert body.forward_features(torch.zeros(1, 3, 17, 17)).shape == (1, 4, 9, 9)  # ceil(17 / 2)


def test_token_list_and_case_are_accepted_and_canonical():
    assert parse_spec(["Conv64", " pool ", "flatten", "dense32"]) == parse_spec("conv64-pool-flatten-dense32")
    assert format_spec(parse_spec("conv96k3s2v-pool2-dropout0.50")) == "conv96s2v-pool-dropout0.5-gap"


def test_missing_flatten_or_gap_adds_a_gap():
    assert format_spec(parse_spec("conv8-pool")) == "conv8-pool-gap"
    assert format_spec(parse_spec("conv8-dense4")) == "conv8-gap-dense4"
    body = build_scratch_body("conv8-pool", num_classes=5, input_size=20)
    assert body(torch.zeros(2, 3, 20, 20)).shape == (2, 5)
    assert isinstance(body.classifier, nn.Linear) and body.classifier.in_features == 8


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("conv64-relu", "relu"),
        ("conv64-pool-conv64x", "conv64x"),
        ("conv64k0", "conv64k0"),
        ("conv64k5k3", "conv64k5k3"),
        ("conv8k4s2", "conv8k4s2"),
        ("conv8-dropout1.5", "dropout1.5"),
        ("conv8-dropout", "dropout"),
        ("conv8-flatten-conv8", "conv8"),
        ("conv8-flatten-gap", "gap"),
        ("conv8-gap-pool", "pool"),
        ("conv8-convhead-dense4", "dense4"),
        ("dense0", "dense0"),
    ],
)
def test_bad_tokens_raise_one_line_naming_the_token(spec, token):
    with pytest.raises(TransferlabError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    assert f"'{token}'" in message and "conv<F>" in message


def test_bad_spec_types_and_empty_specs_raise():
    for spec in ("", "  ", ["conv8", 3]):
        with pytest.raises(TransferlabError):
            parse_spec(spec)


def test_input_too_small_names_the_layer():
    with pytest.raises(TransferlabError, match="max_pooling2d_3"):
        build_scratch_body("conv8-pool-pool-pool", num_classes=2, input_size=4)


def test_flattening_body_rejects_other_input_sizes_helpfully():
    body = build_scratch_body("conv4v-flatten", num_classes=2, input_size=12)
    with pytest.raises(TransferlabError, match="resize inputs to 12"):
        body(torch.zeros(1, 3, 16, 16))


def test_is_scratch_spec_tells_specs_from_names():
    assert is_scratch_spec("conv64-pool-flatten-dense32")
    assert is_scratch_spec("flatten-dense128")
    assert is_scratch_spec("conv64-pool-typo")  # recognised, so the parse error names 'typo'
    for name in ("vgg16", "resnet50", "efficientnet_lite0", "cifar-deep", "", "tiny_cnn"):
        assert not is_scratch_spec(name)


def test_grayscale_forward_backward_and_reset():
    body = build_scratch_body("conv8-pool-bn-flatten-dense16-dropout0.5", num_classes=10, input_size=28, in_channels=1)
    assert body.in_chans == 1 and own_params(body)["features.conv2d_1"] == 8 * 9 + 8
    loss = nn.functional.cross_entropy(body(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in body.parameters())
    body.reset_classifier(3)
    assert body.num_classes == 3 and body(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    body.reset_classifier(0)
    assert body(torch.randn(2, 1, 28, 28)).shape == (2, 16)  # pre-logits


def test_backbone_wrapper_metadata_and_taps():
    backbone = build_scratch_backbone("conv8-pool-conv16-pool-flatten-dense32", num_classes=4, input_size=16)
    assert isinstance(backbone, Backbone)
    assert backbone.name == "scratch:conv8-pool-conv16-pool-flatten-dense32"
    assert (backbone.spec.source, backbone.spec.arch) == ("transferlab", "conv8-pool-conv16-pool-flatten-dense32")
    assert backbone.weights_id == "none" and backbone.spec.min_input_size == 16
    pre = backbone.preprocessing
    assert (pre.input_size, pre.crop_pct, pre.mean, pre.std) == (16, 1.0, (0.0,) * 3, (1.0,) * 3)
    assert backbone.stages == (
        "features.conv2d_1", "features.max_pooling2d_1", "features.conv2d_2", "features.max_pooling2d_2",
    )  # fmt: skip
    x = torch.randn(2, 3, 16, 16)
    assert backbone(x).shape == (2, 4) and backbone.num_classes == 4 and backbone.feature_dim == 16
    assert backbone.features(x, "features.max_pooling2d_1", pooled=False).shape == (2, 8, 8, 8)
    assert backbone.features(x, "features.conv2d_2").shape == (2, 16)
    backbone.reset_head(7)
    assert backbone(x).shape == (2, 7)


def test_min_input_size_of_a_pooling_body():
    backbone = build_scratch_backbone("conv4-pool-conv4-pool-conv4v", num_classes=2, input_size=32, in_channels=1)
    assert backbone.spec.min_input_size == 12  # 12 -> 6 -> 3 -> valid 3x3 -> 1
    assert backbone.feature_dim == 4
    assert backbone(torch.randn(1, 1, 12, 12)).shape == (1, 2)


def test_backbone_without_top_drops_the_dense_layers_like_keras():
    backbone = build_scratch_backbone("conv8-pool-flatten-dense32", num_classes=4, input_size=16)
    conv_params = total_params(backbone.body.features)
    headless = Backbone(backbone.body, backbone.spec, "none", backbone.preprocessing, include_top=False)
    assert total_params(headless) == conv_params and headless.num_classes == 0
    assert headless(torch.randn(2, 3, 16, 16)).shape == (2, 8, 8, 8)


def test_backbone_weights_round_trip_and_no_imagenet(tmp_path):
    backbone = build_scratch_backbone("conv4-gap-dense8", num_classes=3, input_size=8)
    path = tmp_path / "scratch.pt"
    torch.save(backbone.body.state_dict(), path)
    loaded = build_scratch_backbone("conv4-gap-dense8", num_classes=3, input_size=8, weights=str(path))
    assert loaded.weights_id.startswith("file:scratch.pt:")
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(loaded.eval()(x), backbone.eval()(x))
    with pytest.raises(WeightsError, match="no ImageNet weights"):
        build_scratch_backbone("conv4-gap-dense8", num_classes=3, input_size=8, weights="imagenet")


@pytest.mark.parametrize(
    ("spec", "token"),
    [("conv8-dense4-convhead", "dense4"), ("gap-convhead", "gap"), ("conv8-convhead-dense4-dropout0.5", "dense4")],
)
def test_convhead_placement_errors(spec, token):
    with pytest.raises(TransferlabError, match=f"'{token}'"):
        parse_spec(spec)
