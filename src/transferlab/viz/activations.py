"""Activation maps: what chosen layers output for one image, channel by channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..backbones import forward_until
from ..errors import TransferlabError
from .layers import candidate_layers, check_layers, layer_root
from .sources import model_device

ORDERS = ("top", "first")


@dataclass(frozen=True)
class ActivationGrid:
    """Some feature maps of one layer for one image.

    Attributes:
        layer: the layer's name.
        shape: the layer's output shape without the batch, (C, H, W).
        channels: indices of the channels shown, in display order.
        maps: (N, H, W) float32, the shown channels' maps.
        strengths: (N,) mean activation of each shown channel over its map.
        order: "top" (strongest mean activation first) or "first" (channels 0, 1, 2, ...).
    """

    layer: str
    shape: tuple[int, int, int]
    channels: tuple[int, ...]
    maps: np.ndarray
    strengths: np.ndarray
    order: str

    def to_dict(self) -> dict:
        """JSON-ready description (without the maps themselves)."""
        return {
            "layer": self.layer,
            "shape": list(self.shape),
            "channels": list(self.channels),
            "strengths": [round(float(s), 6) for s in self.strengths],
            "order": self.order,
        }


def activation_maps(
    model: nn.Module,
    image: torch.Tensor,
    layers: Sequence[str],
    count: int = 32,
    order: str = "top",
) -> list[ActivationGrid]:
    """The feature maps of `layers` for one image, in one forward pass cut after the deepest layer.

    Args:
        model: a `Classifier`, `Backbone` or network; layer names as `Backbone.layer_names()`.
        image: the normalised input (C, S, S) or (1, C, S, S).
        layers: layer names; each must output spatial maps (B, C, H, W) larger than 1x1.
        count: channels shown per layer (fewer if the layer has fewer).
        order: "top": the `count` channels with the largest mean activation; "first": channels
            0 to count-1.

    Raises:
        UnknownNameError: an unknown layer (the closest names are listed).
        TransferlabError: a layer without spatial output (the message names layers that have one).
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not '{order}'")
    if count < 1:
        raise TransferlabError(f"count must be at least 1, not {count}")
    check_layers(model, layers)
    batch = (image if image.dim() == 4 else image.unsqueeze(0)).to(model_device(model))
    with torch.no_grad():
        outputs = forward_until(model, batch[:1], layers, layer_root(model), mode="detached", must_reach=False)
    return [_grid(model, name, outputs.get(name), count, order) for name in layers]


def _grid(model: nn.Module, name: str, output: torch.Tensor | None, count: int, order: str) -> ActivationGrid:
    check_spatial(model, name, output)
    maps = output[0].float().cpu()  # (C, H, W)
    strengths = maps.mean(dim=(1, 2))
    if order == "top":
        chosen = torch.argsort(strengths, descending=True, stable=True)[:count]
    else:
        chosen = torch.arange(min(count, maps.shape[0]))
    return ActivationGrid(
        layer=name,
        shape=tuple(int(s) for s in maps.shape),
        channels=tuple(int(c) for c in chosen),
        maps=maps[chosen].numpy(),
        strengths=strengths[chosen].numpy(),
        order=order,
    )


def check_spatial(model: nn.Module, name: str, output: torch.Tensor | None) -> None:
    """Raise a one-line error unless `output` (of layer `name`) is a map larger than 1x1.

    Raises:
        TransferlabError: the layer did not run, or its output is not (B, C, H, W) with H*W > 1.
    """
    hint = f"layers with maps include {', '.join(candidate_layers(model)[-6:])}"
    if output is None:
        raise TransferlabError(f"layer '{name}' does not run in this model's forward pass; {hint}")
    if output.dim() != 4 or output.shape[-1] * output.shape[-2] <= 1:
        shape = "(" + ", ".join(str(s) for s in output.shape) + ")"
        raise TransferlabError(f"layer '{name}' has no spatial output (its output is {shape}); {hint}")
