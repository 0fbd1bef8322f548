"""Default layers for every registered network, and hooks that never outlive their context."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.backbones import capture, create_backbone, forward_until, list_backbones
from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.models.lookup import build_named_model
from transferlab.viz import default_layer, layer_root
from transferlab.viz.layers import candidate_layers, first_conv


def _no_hooks(model: nn.Module) -> bool:
    return not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_gets_working_default_layers(name):
    with torch.device("meta"):  # shapes without computing anything: every backbone in a second
        model = create_backbone(name, weights="none").eval()
        side = max(model.spec.min_input_size, 64)
        inputs = torch.zeros(1, 3, side, side)
    root = layer_root(model)
    cam, act = default_layer(model, "gradcam", inputs), default_layer(model, "activations", inputs)
    conv = default_layer(model, "filters")
    assert isinstance(dict(root.named_modules())[conv], nn.Conv2d)
    stages = list(candidate_layers(model))
    assert cam in stages and act in stages and stages.index(act) <= stages.index(cam)
    outputs = forward_until(model, inputs, [act, cam], root, mode="detached")
    assert all(o.dim() == 4 and o.shape[-1] * o.shape[-2] > 1 for o in outputs.values())
    assert _no_hooks(model)


@pytest.mark.parametrize("name", ["conv32-pool-conv32-pool-flatten-dense16", "mnist-conv", "conv8-convhead"])
def test_scratch_specs_and_recipes_get_defaults(name):
    model = build_named_model(name).eval()
    side = model.input_size
    inputs = torch.zeros(1, len(model.preprocessing.mean), side, side)
    assert default_layer(model, "gradcam", inputs).startswith("features.")
    assert default_layer(model, "filters") == "features.conv2d_1"


def test_default_layers_of_a_classifier_stop_where_its_features_are_taken():
    from transferlab.models.classifier import Classifier
    from transferlab.models.heads import Head

    backbone = create_backbone("tiny_cnn", weights="none", include_top=False)
    classifier = Classifier(backbone, Head(16, 2), layer="stage1").eval()
    assert default_layer(classifier, "gradcam", torch.zeros(1, 3, 32, 32)) == "stage1"
    assert first_conv(classifier) == "stem.0"


def test_no_spatial_stage_is_a_clear_error():
    model = create_backbone("tiny_cnn", weights="none").eval()
    with pytest.raises(TransferlabError, match="larger --input-size"):
        default_layer(model, "gradcam", torch.zeros(1, 3, 2, 2))  # every stage map is 1x1


def test_capture_copies_before_in_place_ops_and_removes_hooks_on_errors():
    model = create_backbone("tiny_cnn", weights="none").eval()
    x = torch.randn(1, 3, 32, 32)
    with capture(model.body, ["stem.1"], mode="detached") as recorded:  # BatchNorm, followed by ReLU(inplace=True)
        model(x)
    assert (recorded["stem.1"] < 0).any()  # the ReLU did not overwrite the recorded copy
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model.body, ["stem", "stage2"], mode="detached"):
            raise RuntimeError("boom")
    assert _no_hooks(model)
    with pytest.raises(UnknownNameError, match="did you mean stage2, stage1"):
        with capture(model.body, ["stage"]):
            pass
    assert _no_hooks(model)


def test_forward_until_cuts_the_forward_pass():
    model = create_backbone("tiny_cnn", weights="none").eval()
    seen = []
    handle = model.body.stage2.register_forward_hook(lambda *args: seen.append(True))
    try:
        out = forward_until(model, torch.zeros(1, 3, 32, 32), ["stage1"], model.body)
    finally:
        handle.remove()
    assert out["stage1"].shape == (1, 16, 8, 8) and not seen and _no_hooks(model)


def test_cut_gradients_work_with_frozen_weights():
    torch.manual_seed(0)
    model = create_backbone("tiny_cnn", weights="none").eval().requires_grad_(False)
    with torch.enable_grad(), capture(model.body, ["stage1"], mode="cut") as recorded:
        logits = model(torch.randn(1, 3, 32, 32))
    (grad,) = torch.autograd.grad(logits[0, 3], recorded["stage1"])
    assert grad.shape == (1, 16, 8, 8) and grad.abs().sum() > 0
