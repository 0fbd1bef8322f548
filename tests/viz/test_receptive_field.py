"""Analytic receptive fields: textbook values, branches, and agreement with gradient support."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transferlab.backbones import capture, create_backbone, list_backbones
from transferlab.viz import receptive_field_of, receptive_fields
from transferlab.viz.receptive_field import ReceptiveField


def _rows(model, size):
    return {row.name: row for row in receptive_fields(model, size)}


def test_textbook_chain_values():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert _rows(conv, 16)["0"].field.size == (3, 3)
    chain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    rows = _rows(chain, 32)
    assert [rows[n].field.size[0] for n in ("0", "1", "2")] == [3, 4, 8]
    assert rows["2"].field.jump == (2, 2)


def test_vgg16_block5_conv3_is_196_pixels_on_the_meta_device():
    with torch.device("meta"):
        vgg = create_backbone("vgg16", weights="none", include_top=False)
    rows = _rows(vgg, 224)
    assert rows["features.28"].field.size == (196, 196)  # block5_conv3
    assert rows["features.28"].field.jump == (16, 16)
    assert rows["features.30"].field.size == (212, 212)  # block5_pool


def test_dilation_padding_and_asymmetric_kernels():
    padded = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, 3, dilation=2, padding=2))
    rows = _rows_channels(padded, 32, 1)
    assert rows["0"].field.size == (1, 7)
    assert rows["1"].field.size == (5, 11) and rows["1"].describe() == "5x11"
    assert rows["1"].field.start == (0.0, 0.0)  # centred padding keeps unit 0 on pixel 0
    valid = nn.Sequential(nn.Conv2d(1, 1, (1, 7)), nn.Conv2d(1, 1, 3, dilation=2))
    assert _rows_channels(valid, 32, 1)["1"].field.start == (2.0, 5.0)  # no padding: unit 0 moves inwards


def _rows_channels(model, size, channels):
    return {row.name: row for row in receptive_fields(model, size, channels)}


class _Residual(nn.Module):
    """Two branches of different reach summed, then a strided conv and an SE-style gate."""

    def __init__(self):
        super().__init__()
        self.short = nn.Conv2d(3, 4, 1)
        self.long = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1))
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.gate = nn.Conv2d(4, 4, 1)
        self.after = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.short(x) + self.long(x)
        x = self.down(x)
        x = self.after(x * torch.sigmoid(self.gate(x.mean((2, 3), keepdim=True))))
        return self.head(x.mean((2, 3)))


def test_branches_merge_by_union_and_gates_flag_global_context():
    model = _Residual()
    rows = _rows(model, 16)
    assert rows["short"].field.size == (1, 1) and rows["long"].field.size == (5, 5)
    assert rows["down"].field.size == (7, 7)  # the long branch (5) wins, then 3x3 at jump 1
    assert not rows["down"].field.global_context
    assert rows["gate"].is_global and rows["gate"].field is None
    assert rows["after"].field.size == (7, 7) and rows["after"].field.global_context
    assert rows["after"].describe() == "7 +global"
    assert rows["head"].describe() == "global"


def test_box_is_clipped_and_exclusive():
    field = ReceptiveField((5, 5), (2, 2), (0.0, 0.0))
    assert field.box(0, 0, 10, 10) == (0, 0, 3, 3)  # centre 0, spans -2..2, clipped
    assert field.box(2, 3, 10, 10) == (2, 4, 7, 9)
    assert field.box(4, 4, 8, 8) == (6, 6, 8, 8)


def _gradient_support(model, layer, size, channels=3):
    """Rows/cols of input pixels that influence the centre unit of `layer` (nonzero gradient)."""
    x = torch.randn(1, channels, size, size, requires_grad=True, generator=torch.Generator().manual_seed(0))
    root = model.body if hasattr(model, "body") else model
    with torch.enable_grad(), capture(root, [layer], mode="through") as recorded:
        model(x)
    out = recorded[layer]
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    (grad,) = torch.autograd.grad(out[0, :, i, j].abs().sum(), x)
    hit = grad.abs().sum(dim=(0, 1)).nonzero()
    rows, cols = hit[:, 0], hit[:, 1]
    return (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1), (i, j)


@pytest.mark.parametrize(
    ("name", "layer", "size"),
    [
        ("tiny_cnn", "stage2", 64),
        ("efficientnet_lite0", "blocks.2", 96),  # TF 'same' padding, depthwise convs
        pytest.param("resnet50", "layer2", 128, marks=pytest.mark.slow),  # residual branches
    ],
)
def test_analytic_box_equals_the_gradient_support(name, layer, size):
    torch.manual_seed(0)
    model = create_backbone(name, weights="none").eval()
    for module in model.modules():  # timm zero-inits the last BN of residual blocks: undo it
        if isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
    support, unit = _gradient_support(model, layer, size)
    field = receptive_field_of(model, layer, size)
    assert field.box(*unit, size, size) == support


def test_residual_box_equals_the_gradient_support():
    torch.manual_seed(0)
    model = nn.Sequential(_ResidualBody()).eval()
    support, unit = _gradient_support(model, "0.down", 24)
    assert receptive_field_of(model, "0.down", 24).box(*unit, 24, 24) == support


class _ResidualBody(_Residual):
    def forward(self, x):
        return self.down(self.short(x) + self.long(x))


def test_tf_same_padding_through_f_pad():
    class SamePad(nn.Module):
        def forward(self, x):
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), torch.ones(1, 1, 3, 3), stride=2)

    row = _rows_channels(nn.Sequential(SamePad()), 8, 1)["0"]
    assert row.field.size == (3, 3) and row.field.start == (1.0, 1.0) and row.output_shape == (1, 1, 4, 4)


def test_every_registered_backbone_traces_every_stage():
    for name in list_backbones():
        with torch.device("meta"):
            model = create_backbone(name, weights="none")
        size = 299 if name == "inception_v3" else 224
        rows = _rows(model, size)
        assert not [r.name for r in rows.values() if r.describe() == "?"], name
        sizes = [rows[stage].field.size[0] for stage in model.stages]
        assert sizes == sorted(sizes) and sizes[0] >= 3, (name, sizes)


def test_tracing_leaves_modes_and_hooks_alone():
    model = create_backbone("tiny_cnn", weights="none").train()
    receptive_fields(model, 32)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
