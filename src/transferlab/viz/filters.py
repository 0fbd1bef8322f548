"""Convolution kernels (the learned filters) of a layer, arranged for display."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..backbones import resolve_layer
from ..errors import TransferlabError
from .layers import first_conv, layer_root

KINDS = ("rgb", "grey", "depthwise", "per-channel", "pointwise")


@dataclass(frozen=True)
class FilterBank:
    """The kernels of one convolution, the first `count` filters of it.

    Attributes:
        layer: the layer's name.
        weights: (N, I, kh, kw) float32: N filters, the first I input channels of each.
        total_filters: filters in the layer (its output channels).
        in_channels: input channels each filter sees (per group).
        groups: the convolution's groups (depthwise convolutions: groups == channels).
        kind: how to draw them:
            "rgb": the first layer on a colour image, each filter one colour tile;
            "grey": the first layer on a grey image, one grey tile per filter;
            "depthwise": one input channel per filter (depthwise convolution), one tile each;
            "per-channel": one tile per (filter, input channel);
            "pointwise": 1x1 kernels, drawn as a matrix of weights (filters x input channels).
    """

    layer: str
    weights: np.ndarray
    total_filters: int
    in_channels: int
    groups: int
    kind: str

    def to_dict(self) -> dict:
        """JSON-ready description (without the weights)."""
        n, i, kh, kw = self.weights.shape
        return {
            "layer": self.layer,
            "kind": self.kind,
            "shown_filters": n,
            "shown_in_channels": i,
            "kernel": [kh, kw],
            "total_filters": self.total_filters,
            "in_channels": self.in_channels,
            "groups": self.groups,
        }


def conv_filters(
    model: nn.Module, layer: str | None = None, count: int | None = None, in_count: int | None = None
) -> FilterBank:
    """The kernels of convolution `layer` (default: the first one, which sees the image).

    Args:
        model: a `Classifier`, `Backbone` or network.
        layer: a `Conv2d` layer name.
        count: filters shown (the first ones); default 64 for tiles and matrices, 8 rows for
            "per-channel".
        in_count: input channels shown per filter for "per-channel" (default 8) and
            "pointwise" (default 64).

    Raises:
        UnknownNameError: an unknown layer (closest names listed).
        TransferlabError: the layer is not a convolution (the message names convolutions).
    """
    if (count is not None and count < 1) or (in_count is not None and in_count < 1):
        raise TransferlabError("the number of filters and input channels shown must be at least 1")
    root = layer_root(model)
    name = layer or first_conv(model)
    module = resolve_layer(root, name)
    if not isinstance(module, nn.Conv2d):
        convs = [n for n, m in root.named_modules() if isinstance(m, nn.Conv2d)]
        shown = ", ".join(convs[:3] + (["..."] if len(convs) > 4 else []) + convs[-1:])
        raise TransferlabError(
            f"layer '{name}' is a {type(module).__name__}, not a convolution: only conv layers have "
            f"filters ({shown})"
        )
    weight = module.weight.detach().float().cpu()  # (out, in / groups, kh, kw)
    kind = _kind(weight.shape, name == first_conv(model), module.groups)
    in_count = in_count or (64 if kind == "pointwise" else 8)
    keep_in = min(in_count, weight.shape[1]) if kind in ("per-channel", "pointwise") else weight.shape[1]
    count = count or (8 if kind == "per-channel" else 64)
    return FilterBank(
        layer=name,
        weights=weight[:count, :keep_in].numpy(),
        total_filters=int(weight.shape[0]),
        in_channels=int(weight.shape[1]),
        groups=int(module.groups),
        kind=kind,
    )


def _kind(shape, sees_image: bool, groups: int) -> str:
    _, per_group, kh, kw = shape
    if sees_image and per_group in (1, 3):
        return "rgb" if per_group == 3 else "grey"
    if kh * kw == 1:
        return "pointwise"
    return "depthwise" if per_group == 1 and groups > 1 else "per-channel"
