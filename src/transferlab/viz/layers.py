"""Which layers to look at: the layer namespace of any model and sensible defaults per purpose.

Defaults are derived from each backbone's stages (timm's `feature_info`, or the registry's own
list) and the module tree, so every registered backbone, recipe and scratch spec gets one
without a hand-written table:

* Grad-CAM: the last stage that runs and still has a spatial output (more than 1x1);
* activations: the middle one of those stages (mid-level features, still fine-grained maps);
* filters: the first convolution (its kernels act on the image itself).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..backbones import Backbone, forward_until, resolve_layer
from ..errors import TransferlabError

PURPOSES = ("gradcam", "activations", "filters")


def layer_root(model: nn.Module) -> nn.Module:
    """The module whose `named_modules()` are the layer names: a `Backbone`'s `body`.

    A `Classifier` (backbone + head) and a `Backbone` share the backbone's namespace, the names
    `transferlab train --layer` and `Backbone.layer_names()` use.
    """
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Backbone):
        return backbone.body
    return model.body if isinstance(model, Backbone) else model


def first_conv(model: nn.Module) -> str:
    """Name of the first `nn.Conv2d` in module order (the stem, which sees the image).

    Raises:
        TransferlabError: the model has no convolution.
    """
    for name, module in layer_root(model).named_modules():
        if isinstance(module, nn.Conv2d):
            return name
    raise TransferlabError("the model has no convolutional layer")


def candidate_layers(model: nn.Module) -> tuple[str, ...]:
    """Stage names shallow to deep; for a network without stages, its convolutions."""
    backbone = getattr(model, "backbone", model)
    stages = backbone.stages if isinstance(backbone, Backbone) else ()
    if stages:
        return tuple(stages)
    return tuple(n for n, m in layer_root(model).named_modules() if isinstance(m, nn.Conv2d))


def spatial_stages(model: nn.Module, inputs: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of the candidate layers that run on `inputs` with maps larger than 1x1.

    One forward pass, without gradients, cut after the deepest candidate.
    """
    names = candidate_layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.no_grad():
        outputs = forward_until(model, inputs, names, layer_root(model), mode="detached", must_reach=False)
    for name in names:
        out = outputs.get(name)
        if out is not None and out.dim() == 4 and out.shape[-1] * out.shape[-2] > 1:
            shapes[name] = tuple(out.shape)
    return [(name, shapes[name]) for name in names if name in shapes]


def default_layer(model: nn.Module, purpose: str, inputs: torch.Tensor | None = None) -> str:
    """The layer `purpose` looks at when none is given.

    Args:
        model: a `Classifier`, `Backbone` or any network with conv layers.
        purpose: "gradcam", "activations" or "filters".
        inputs: a (B, C, S, S) batch at the size that will be used (zeros are fine); needed for
            "gradcam" and "activations", which probe which stages run and keep spatial maps.

    Raises:
        TransferlabError: no suitable layer (e.g. every map is 1x1 at this input size).
    """
    if purpose == "filters":
        return first_conv(model)
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not '{purpose}'")
    found = spatial_stages(model, inputs)
    if not found:
        raise TransferlabError(
            f"no layer keeps spatial maps at input size {inputs.shape[-1]}: use a larger --input-size"
        )
    names = [name for name, _ in found]
    return names[-1] if purpose == "gradcam" else names[(len(names) - 1) // 2]


def check_layers(model: nn.Module, names: Sequence[str]) -> list[str]:
    """`names` unchanged if each is a layer; an unknown one raises, listing the closest valid names."""
    root = layer_root(model)
    for name in names:
        resolve_layer(root, name)
    return list(names)
