"""Registry, `create_backbone` for every name, stage features, and hook release."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from transferlab import TransferlabError, UnknownNameError, create_backbone, list_backbones
from transferlab.backbones import capture, forward_until, get_backbone_spec

ALL_NAMES = [
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "inception_v3",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resnet50",
    "squeezenet1_1",
    "tiny_cnn",
    "vgg16",
    "vgg19",
    "xception",
]
# Randomly initialising VGG's 120M dense parameters takes ~4 s per build; shapes are the same
# on the meta device, so the VGGs are checked there and everything else on the CPU.
META_ONLY = {"vgg16", "vgg19"}


def test_registry_lists_all_names():
    assert list_backbones() == ALL_NAMES


def test_pattern_filters_names():
    assert list_backbones("efficientnet_lite*") == ALL_NAMES[:3]
    assert list_backbones("vgg1?") == ["vgg16", "vgg19"]
    assert list_backbones("nothing*") == []


@pytest.mark.parametrize(
    "bad, expected", [("resnet5", "resnet50"), ("vgg", "vgg16"), ("mobilenetv2", "mobilenet_v2")]
)
def test_unknown_name_lists_close_matches(bad, expected):
    with pytest.raises(UnknownNameError) as info:
        create_backbone(bad, weights="none")
    message = str(info.value)
    assert f"unknown backbone '{bad}'" in message
    assert "did you mean" in message and expected in message.split("valid:")[0]
    assert "\n" not in message
    assert isinstance(info.value, TransferlabError)


def test_input_size_below_minimum_is_refused():
    with pytest.raises(TransferlabError, match="at least 75"):
        create_backbone("inception_v3", weights="none", input_size=64)


@pytest.fixture(scope="module", params=ALL_NAMES)
def built(request) -> SimpleNamespace:
    """One backbone with a 3-class head and one conv base per name, shared by the tests below."""
    name = request.param
    spec = get_backbone_spec(name)
    device = "meta" if name in META_ONLY else "cpu"
    side = max(spec.min_input_size, 64)
    torch.manual_seed(0)
    with torch.device(device):
        top = create_backbone(name, weights="none", num_classes=3, input_size=side).eval()
        base = create_backbone(name, weights="none", include_top=False).eval()
    x = torch.randn(2, 3, side, side, device=device)  # (B, C, H, W)
    return SimpleNamespace(name=name, top=top, base=base, x=x)


def test_new_head_gives_logits(built):
    with torch.no_grad():
        logits = built.top(built.x)
    assert logits.shape == (2, 3)
    assert built.top.num_classes == 3 and built.top.weights_id == "none"
    assert built.top.input_size == built.x.shape[-1]


def test_without_top_gives_feature_maps(built):
    with torch.no_grad():
        maps = built.base(built.x)
    assert maps.dim() == 4 and maps.shape[:2] == (2, built.base.feature_dim)
    assert built.base.num_classes == 0


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_gives_vectors(built, pooling):
    built.base.pooling = pooling  # same module, another Keras `pooling=`; restored below
    try:
        with torch.no_grad():
            vectors = built.base(built.x)
    finally:
        built.base.pooling = None
    assert vectors.shape == (2, built.base.feature_dim)


def test_features_at_every_stage(built):
    stages = built.base.stages
    assert stages, f"{built.name} declares no stages"
    with torch.no_grad():
        for stage in stages:
            pooled = built.base.features(built.x, layer=stage)
            assert pooled.dim() == 2 and pooled.shape[0] == 2, stage
            assert stage in built.base.layer_names()
        assert built.base.features(built.x).shape == (2, built.base.feature_dim)
    assert not _hooked(built.base)


def test_imagenet_head_and_pooling_option():
    model = create_backbone("tiny_cnn", weights="none", pooling="avg")  # pooling ignored with a top
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    base = create_backbone("tiny_cnn", weights="none", include_top=False, pooling="avg")
    assert base(torch.randn(1, 3, 32, 32)).shape == (1, 32)
    with pytest.raises(TransferlabError, match="pooling"):
        create_backbone("tiny_cnn", weights="none", include_top=False, pooling="mean")


def _hooked(model: torch.nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_capture_removes_hooks_after_use():
    model = create_backbone("tiny_cnn", weights="none")
    with capture(model.body, ["stem", "stage2"]) as captured:
        assert _hooked(model)
        model(torch.randn(1, 3, 32, 32))
    assert set(captured) == {"stem", "stage2"}
    assert not _hooked(model)


def test_capture_removes_hooks_on_exception():
    model = create_backbone("tiny_cnn", weights="none")
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model.body, ["stage1"]):
            raise RuntimeError("boom")
    assert not _hooked(model)
    with pytest.raises(RuntimeError):  # an error inside the forward pass itself
        with capture(model.body, ["stage1"]):
            model(torch.randn(1, 5, 32, 32))  # wrong channel count
    assert not _hooked(model)


def test_forward_until_stops_early_and_cleans_up():
    model = create_backbone("tiny_cnn", weights="none")
    out = forward_until(model.body, torch.randn(1, 3, 32, 32), ["stage1"])
    assert out["stage1"].shape == (1, 16, 8, 8)
    assert not _hooked(model)


def test_unknown_layer_lists_close_matches():
    model = create_backbone("tiny_cnn", weights="none")
    with pytest.raises(UnknownNameError, match="stage1"):
        model.features(torch.randn(1, 3, 32, 32), layer="stage_1")
    assert not _hooked(model)
