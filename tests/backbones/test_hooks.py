"""The one hook module: hooks always removed, the first call kept, tuple outputs, helpful errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.backbones import HookError, capture, create_backbone, forward_until, hooked, live_hooks
from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.models.fold import fold_batch_norm, probe_input


class _Shared(nn.Module):
    """One block called twice per forward pass, and a layer that returns a tuple."""

    def __init__(self):
        super().__init__()
        self.block = nn.Conv2d(2, 2, 1)
        self.pair = _Pair()

    def forward(self, x):
        y, _ = self.pair(self.block(self.block(x)))
        return y


class _Pair(nn.Module):
    def forward(self, x):
        return x * 2, "not a tensor"


def _hooked(model: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_hooked_removes_every_hook_on_exit_and_on_an_exception():
    model = _Shared()
    calls = []
    pairs = [(model.block, lambda *a: calls.append("fwd"))]
    with hooked(forward=pairs, pre=[(model.pair, lambda *a: calls.append("pre"))]):
        assert live_hooks(model) == ["block", "pair"]
        model(torch.zeros(1, 2, 3, 3))
    assert calls == ["fwd", "fwd", "pre"]  # hooked calls its hooks on every call
    assert not _hooked(model) and live_hooks(model) == []
    with pytest.raises(RuntimeError, match="boom"):
        with hooked(forward=pairs):
            raise RuntimeError("boom")
    assert not _hooked(model)


def test_hooks_registered_before_a_bad_name_are_removed():
    model = create_backbone("tiny_cnn", weights="none")
    with pytest.raises(UnknownNameError, match="did you mean stage2, stage1"):
        with capture(model.body, ["stem", "stage"]):  # "stem" is hooked before "stage" fails
            pass
    assert not _hooked(model)


def test_a_layer_called_twice_keeps_its_first_output():
    model = _Shared()
    x = torch.randn(1, 2, 3, 3)
    with capture(model, ["block"]) as recorded:
        model(x)
    torch.testing.assert_close(recorded["block"], model.block(x))
    assert not _hooked(model)


def test_tuple_outputs_record_their_first_tensor():
    model = _Shared()
    x = torch.randn(1, 2, 3, 3)
    out = forward_until(model, x, ["pair"])
    torch.testing.assert_close(out["pair"], model(x))


@pytest.mark.parametrize("mode", ["output", "detached", "cut", "through"])
def test_every_mode_records_the_same_values(mode):
    model = create_backbone("tiny_cnn", weights="none").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.enable_grad(), capture(model.body, ["stage1"], mode=mode) as recorded:
        logits = model(x)
    torch.testing.assert_close(recorded["stage1"], model.features(x, "stage1", pooled=False))
    torch.testing.assert_close(logits, model(x))
    assert recorded["stage1"].requires_grad == (mode in ("output", "cut", "through"))


def test_an_unknown_mode_and_a_layer_that_never_runs_are_clear_errors():
    model = create_backbone("tiny_cnn", weights="none")
    with pytest.raises(UnknownNameError, match="capture mode 'copy'"):
        with capture(model.body, ["stem"], mode="copy"):
            pass
    unused = _Shared()
    unused.spare = nn.ReLU()
    with pytest.raises(HookError, match="spare"):
        forward_until(unused, torch.zeros(1, 2, 3, 3), ["block", "spare"])
    assert issubclass(HookError, TransferlabError)
    assert forward_until(unused, torch.zeros(1, 2, 3, 3), ["spare"], must_reach=False) == {}
    assert not _hooked(unused)


def test_forward_until_cuts_the_pass_and_removes_hooks_on_errors():
    model = create_backbone("tiny_cnn", weights="none").eval()
    out = forward_until(model.body, torch.randn(1, 3, 32, 32), ["stem", "stage1"])
    assert out["stage1"].shape == (1, 16, 8, 8) and not _hooked(model)
    with pytest.raises(RuntimeError):
        forward_until(model.body, torch.randn(1, 5, 32, 32), ["stage1"])  # wrong channel count
    assert not _hooked(model)


def test_forward_until_nested_in_a_forward_pass_that_is_itself_cut():
    """A classifier cut at a layer runs `forward_until` inside its forward; `viz` records that layer."""
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32).eval()

    class _CutAtStage1(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = backbone.body

        def forward(self, x):
            return forward_until(self.body, x, ["stage1"])["stage1"]

    model = _CutAtStage1()
    out = forward_until(model, torch.randn(1, 3, 32, 32), ["body.stage1"])
    assert out["body.stage1"].shape == (1, 16, 8, 8) and not _hooked(model)


def test_a_network_with_live_hooks_is_not_folded():
    model = create_backbone("tiny_cnn", "none", include_top=False, input_size=32).eval()
    sample = probe_input(32)
    seen = []
    handle = model.body.stem.register_forward_hook(lambda *args: seen.append(True))
    try:
        assert fold_batch_norm(model, lambda net: net.features(sample, None)) is model
    finally:
        handle.remove()
    assert not seen  # refused before anything ran
    folded = fold_batch_norm(model, lambda net: net.features(sample, None))
    assert folded is not model and not _hooked(folded) and not _hooked(model)
