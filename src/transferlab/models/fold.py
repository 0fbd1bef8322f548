"""Inference copies with each BatchNorm folded into the convolution that feeds it.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be
multiplied into the convolution's weights and bias: the same outputs, one pass over the
activations fewer per layer (efficientnet_lite0: 49 of them, about 1.15x faster on 2 CPU
cores; BENCHMARKS.md, "Throughput"). The pairs are found by running the network once with
hooks (a BatchNorm whose input is exactly a convolution's output), and the copy is used only
if it reproduces the original's outputs on a random batch; otherwise the original is returned.
A network that carries hooks is not folded: its deep copy would run copies of them (still
writing to their callers' state) on folded modules, and stripping them would silently stop them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import torch
from torch import nn

from ..backbones import hooked, live_hooks

log = logging.getLogger(__name__)

_NORMS = nn.modules.batchnorm._BatchNorm
TOLERANCE = 1e-4  # largest difference allowed, relative to the largest output


def fold_batch_norm(model: nn.Module, run: Callable[[nn.Module], torch.Tensor]) -> nn.Module:
    """An eval-mode copy of `model` with conv -> BatchNorm pairs folded, or `model` itself.

    Args:
        model: a network in eval mode (left unchanged).
        run: runs a network on a fixed small sample and returns its output, e.g.
            `lambda m: m(sample)`; used to find the pairs and to check the copy.

    Returns:
        The folded copy (attribute `bn_folded` True), or `model` when nothing can be folded,
        the copy's outputs differ, or `model` carries hooks (so they keep running).
    """
    if getattr(model, "bn_folded", False):
        return model
    hooked_modules = live_hooks(model)
    if hooked_modules:
        log.debug("BatchNorm not folded: modules %s of %s carry hooks", hooked_modules[:3], type(model).__name__)
        return model
    with torch.no_grad():
        pairs = _conv_norm_pairs(model, run)
        if not pairs:
            return model
        expected = run(model)
        folded = copy.deepcopy(model)
        modules = dict(folded.named_modules())
        for conv_name, norm_name in pairs:
            _fold(modules[conv_name], modules[norm_name])
            _replace(folded, modules, norm_name)
        scale = float(expected.abs().max()) or 1.0
        if float((run(folded) - expected).abs().max()) > TOLERANCE * scale:
            log.debug("BatchNorm folding changed the outputs of %s: not used", type(model).__name__)
            return model
    folded.bn_folded = True
    log.debug("folded %d BatchNorm layers into their convolutions", len(pairs))
    return folded


def _conv_norm_pairs(model: nn.Module, run: Callable[[nn.Module], torch.Tensor]) -> list[tuple[str, str]]:
    """(conv, norm) module names where the norm runs next, on the conv's output tensor itself."""
    last: list = [None]  # (data_ptr, name) of the latest conv output not yet consumed by a norm
    pairs = []

    def after_conv(name):
        def hook(module, inputs, output):
            last[0] = (output.data_ptr(), name)
        return hook

    def before_norm(name):
        def hook(module, inputs):
            if last[0] is not None and last[0][0] == inputs[0].data_ptr() and not module.training:
                pairs.append((last[0][1], name))
            last[0] = None
        return hook

    modules = list(model.named_modules())
    convs = [(m, after_conv(n)) for n, m in modules if isinstance(m, nn.Conv2d)]
    norms = [(m, before_norm(n)) for n, m in modules if isinstance(m, _NORMS) and m.track_running_stats and m.affine]
    with hooked(forward=convs, pre=norms):
        run(model)
    return list(dict.fromkeys(pairs))  # a module called twice folds once


def _fold(conv: nn.Conv2d, norm: nn.Module) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (C_out,)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1).to(conv.weight.dtype))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias, requires_grad=False)


def _replace(root: nn.Module, modules: dict[str, nn.Module], name: str) -> None:
    """The folded norm becomes what it did besides normalising (timm's BatchNormAct2d: drop + act)."""
    norm = modules[name]
    rest = [m for m in (getattr(norm, "drop", None), getattr(norm, "act", None)) if isinstance(m, nn.Module)]
    parent_name, _, attribute = name.rpartition(".")
    parent = modules[parent_name] if parent_name else root
    setattr(parent, attribute, nn.Sequential(*rest) if rest else nn.Identity())


def probe_input(side: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A fixed random batch (2, 3, side, side), channels_last, for `fold_batch_norm`'s `run`."""
    sample = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    return sample.to(device).contiguous(memory_format=torch.channels_last)
