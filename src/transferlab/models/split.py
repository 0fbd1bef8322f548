"""A backbone cut in two where training starts: a frozen prefix and the trainable rest.

Fine-tuning only the top of a network leaves most of its forward pass unchanged from epoch to
epoch. Cut at the first module that holds a trainable parameter, the frozen prefix can run once
per image (and per augmented view) and the trainable suffix train on what it returned
(`features.prefix`, `strategies.finetune_prefix`).

The cut is made on the conv base's top-level modules in order, with `nn.Sequential` containers
(timm's `blocks`, ResNet's `layer1`...) opened one level at a time, and it is kept only where
running the pieces one after another reproduces `forward_features` on a probe batch: a backbone
whose forward is not such a chain gets no split, and fine-tuning then runs the whole network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..backbones import Backbone

SPLIT_TOLERANCE = 1e-5  # relative; the pieces run the same kernels as forward_features


@dataclass(frozen=True)
class BackboneSplit:
    """The conv base as `suffix(prefix(x))`.

    Attributes:
        prefix: the frozen modules before `boundary`, as one module (B, 3, S, S) -> maps.
        suffix: the modules from `boundary` to the end of the conv base.
        boundary: the qualified name of the first suffix module (e.g. "blocks.5").
        prefix_share: the prefix's share of the conv base's forward FLOPs (0..1).
    """

    prefix: nn.Sequential
    suffix: nn.Sequential
    boundary: str
    prefix_share: float


class SuffixClassifier(nn.Module):
    """Prefix outputs (B, C, h, w) -> logits, sharing the classifier's modules and parameter names.

    Its `state_dict` has the classifier's keys, so checkpoints written while training it load
    straight into the classifier.
    """

    def __init__(self, classifier: nn.Module, suffix: nn.Sequential):
        super().__init__()
        self.backbone = classifier.backbone
        self.head = classifier.head
        object.__setattr__(self, "_suffix", suffix)  # the backbone's own modules: not registered twice

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.head(self._suffix(maps).mean(dim=(2, 3)))


def split_backbone(backbone: Backbone) -> BackboneSplit | None:
    """Cut `backbone` before its first trainable module; None when nothing frozen comes first,
    when everything is frozen, or when its forward is not a chain of modules.
    """
    measured = _feature_chain(backbone)
    if measured is None:
        return None
    chain, flops = measured
    first = next((i for i, (_, m) in enumerate(chain) if any(p.requires_grad for p in m.parameters())), None)
    if not first:  # None: nothing trains; 0: nothing frozen to skip
        return None
    return BackboneSplit(
        prefix=nn.Sequential(*(m for _, m in chain[:first])),
        suffix=nn.Sequential(*(m for _, m in chain[first:])),
        boundary=chain[first][0],
        prefix_share=sum(flops[:first]) / max(sum(flops), 1),
    )


def _feature_chain(backbone: Backbone) -> tuple[list[tuple[str, nn.Module]], list[int]] | None:
    """The shortest ordered module chain whose composition equals `forward_features`, and the
    forward FLOPs of each of its modules (measured in eval mode: no BatchNorm statistics move)."""
    probe = _probe(backbone)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            expected = backbone.forward_features(probe)
            chain = _chain_to(list(_open(backbone.body)), probe, expected)
            return None if chain is None else (chain, _chain_flops(chain, probe))
    finally:
        backbone.train(was_training)


def _open(module: nn.Module, prefix: str = ""):
    """Top-level children in order, `nn.Sequential` ones opened into their own children."""
    for name, child in module.named_children():
        qualified = f"{prefix}{name}"
        if isinstance(child, nn.Sequential) and len(child):
            yield from _open(child, qualified + ".")
        else:
            yield qualified, child


def _chain_to(candidates, x: torch.Tensor, expected: torch.Tensor) -> list[tuple[str, nn.Module]] | None:
    chain = []
    for name, module in candidates:
        try:
            x = module(x)
        except Exception:  # noqa: BLE001  a module that is not a step of a chain (e.g. needs other inputs)
            return None
        chain.append((name, module))
        if isinstance(x, torch.Tensor) and x.shape == expected.shape and _close(x, expected):
            return chain
    return None


def _close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = float(expected.abs().max()) or 1.0
    return float((got - expected).abs().max()) <= SPLIT_TOLERANCE * scale


def _probe(backbone: Backbone) -> torch.Tensor:
    param = next(backbone.body.parameters())
    side = backbone.input_size
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, side, side, generator=generator).to(device=param.device, dtype=param.dtype)


def _chain_flops(chain: list[tuple[str, nn.Module]], x: torch.Tensor) -> list[int]:
    """Forward FLOPs of each module of the chain on `x`."""
    from torch.utils.flop_counter import FlopCounterMode

    flops = []
    for _, module in chain:
        counter = FlopCounterMode(display=False)
        with counter:
            x = module(x)
        flops.append(counter.get_total_flops())
    return flops
