"""Class activation maps from gradients: Grad-CAM, Grad-CAM++ and HiResCAM.

`BaseCAM` owns the control flow: record the target layer's output A (B, C, h, w) with a hook
(removed on exit, also on errors), run the model, take the gradient G of each image's target
logit with respect to A, then map = ReLU(sum_c W * A), upsampled to the input and scaled to
[0, 1]. A subclass overrides only `channel_weights(A, G) -> W`.

* Grad-CAM (Selvaraju et al. 2017): W = spatial mean of G, one weight per channel.
* Grad-CAM++ (Chattopadhay et al. 2018): positive gradients weighted per position by
  alpha = G^2 / (2 G^2 + sum(A) G^3), which spreads credit over several instances of a class.
* HiResCAM (Draelos & Carin 2020): W = G itself, element-wise; for a network that ends in
  global average pooling and a linear layer it equals the exact contribution of each position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import capture
from .activations import check_spatial
from .layers import check_layers, layer_root

DEFAULT_METHOD = "gradcam++"


@dataclass(frozen=True)
class CamResult:
    """Where one image's evidence for one class lies, according to one layer.

    Attributes:
        heatmap: (S, S) float32 in [0, 1] at the input's size (the centre crop the network saw).
        low_res: (h, w) float32, the map at the layer's resolution, before scaling.
        class_index: the class explained.
        score: that class's logit.
        probability: its softmax probability.
        layer: the target layer.
        method: "gradcam", "gradcam++" or "hirescam".
    """

    heatmap: np.ndarray
    low_res: np.ndarray
    class_index: int
    score: float
    probability: float
    layer: str
    method: str

    def strongest_unit(self) -> tuple[int, int]:
        """(row, col) of the largest value of `low_res`: the unit whose receptive field matters most."""
        row, col = np.unravel_index(int(np.argmax(self.low_res)), self.low_res.shape)
        return int(row), int(col)


class BaseCAM:
    """Gradient-based class activation maps for one model and target layer.

    Args:
        model: maps a normalised batch (B, C, S, S) to logits (B, K); put in eval mode first.
        layer: the target layer's name (relative to the backbone's body); it must output maps.

    Raises:
        UnknownNameError: an unknown layer (the closest names are listed).
    """

    method = "base"

    def __init__(self, model: nn.Module, layer: str):
        check_layers(model, [layer])
        self.model = model
        self.layer = layer

    def channel_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """Weights for the activations: (B, C, 1, 1) per channel, or (B, C, h, w) per position."""
        raise NotImplementedError

    def __call__(self, inputs: torch.Tensor, targets: int | Sequence[int] | None = None) -> list[CamResult]:
        """One `CamResult` per image of `inputs` (B, C, S, S).

        Args:
            inputs: normalised images on the model's device.
            targets: the class to explain: one for all images, one per image, or None for
                each image's predicted class.
        """
        activations, gradients, logits, classes = self._forward_backward(inputs, targets)
        with torch.no_grad():
            weights = self.channel_weights(activations, gradients)
            maps = F.relu((weights * activations).sum(dim=1))  # (B, h, w)
            heat = F.interpolate(maps[:, None], size=inputs.shape[-2:], mode="bilinear", align_corners=False)
            heat = _scale(heat[:, 0])  # (B, S, S)
            probs = logits.softmax(dim=1)
        return [
            CamResult(
                heatmap=heat[i].cpu().numpy(),
                low_res=maps[i].float().cpu().numpy(),
                class_index=int(classes[i]),
                score=float(logits[i, classes[i]]),
                probability=float(probs[i, classes[i]]),
                layer=self.layer,
                method=self.method,
            )
            for i in range(inputs.shape[0])
        ]

    def _forward_backward(self, inputs, targets):
        with torch.enable_grad(), capture(layer_root(self.model), [self.layer], mode="cut") as recorded:
            logits = self.model(inputs).float()  # (B, K)
            activations = recorded.get(self.layer)
            check_spatial(self.model, self.layer, activations)
            classes = _targets(targets, logits)
            score = logits.gather(1, classes[:, None]).sum()  # images are independent in eval mode
            (gradients,) = torch.autograd.grad(score, activations)
        return activations.detach().float(), gradients.float(), logits.detach(), classes


class GradCAM(BaseCAM):
    """Grad-CAM: each channel weighted by its spatially averaged gradient."""

    method = "gradcam"

    def channel_weights(self, activations, gradients):
        return gradients.mean(dim=(2, 3), keepdim=True)


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: positive gradients, each position weighted by alpha (second-order terms)."""

    method = "gradcam++"

    def channel_weights(self, activations, gradients):
        g2, g3 = gradients.pow(2), gradients.pow(3)
        total = activations.sum(dim=(2, 3), keepdim=True)
        denominator = 2 * g2 + total * g3
        safe = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        alpha = torch.where(denominator != 0, g2 / safe, torch.zeros_like(g2))
        return (alpha * F.relu(gradients)).sum(dim=(2, 3), keepdim=True)


class HiResCAM(BaseCAM):
    """HiResCAM: activations times gradients position by position, then summed over channels."""

    method = "hirescam"

    def channel_weights(self, activations, gradients):
        return gradients


CAM_METHODS: dict[str, type[BaseCAM]] = {cls.method: cls for cls in (GradCAM, GradCAMPlusPlus, HiResCAM)}


def class_activation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    layer: str,
    targets: int | Sequence[int] | None = None,
    method: str = DEFAULT_METHOD,
) -> list[CamResult]:
    """CAMs for a batch with the named method ("gradcam", "gradcam++", "hirescam").

    Args:
        model: logits model in eval mode.
        inputs: (B, C, S, S) normalised images (or one (C, S, S) image).
        layer: target layer (see `layers.default_layer(model, "gradcam", inputs)`).
        targets: class index for all, one per image, or None for the predicted classes.
        method: one of `CAM_METHODS`.
    """
    if method not in CAM_METHODS:
        from ..errors import unknown_name

        raise unknown_name("CAM method", method, CAM_METHODS)
    batch = inputs if inputs.dim() == 4 else inputs.unsqueeze(0)
    return CAM_METHODS[method](model, layer)(batch, targets)


def _targets(targets, logits: torch.Tensor) -> torch.Tensor:
    count, classes = logits.shape
    if targets is None:
        chosen = logits.argmax(dim=1)
    elif isinstance(targets, (int, np.integer)):
        chosen = torch.full((count,), int(targets), dtype=torch.long, device=logits.device)
    else:
        chosen = torch.as_tensor(list(targets), dtype=torch.long, device=logits.device)
        if chosen.shape != (count,):
            raise ValueError(f"got {chosen.numel()} targets for {count} images")
    if bool(((chosen < 0) | (chosen >= classes)).any()):
        raise ValueError(f"target classes must be in 0..{classes - 1}")
    return chosen


def _scale(maps: torch.Tensor) -> torch.Tensor:
    """Each map min-max scaled to [0, 1]; a constant map becomes zeros."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (maps - low) / span.clamp_min(1e-12), torch.zeros_like(maps))
