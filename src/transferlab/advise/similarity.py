"""How much a dataset looks like ImageNet, measured two ways on a sample of its images.

1. The pretrained ImageNet head: on images like ImageNet's it is confident (high top
   probability, low entropy); on textures, charts or micrographs it spreads its bets.
2. BatchNorm statistics: every BatchNorm layer of the pretrained base holds the running
   mean/variance of its input over ImageNet. The same statistics measured on the dataset,
   compared channel by channel (standardised mean shift, Gaussian KL), say how far the
   dataset's activations are from what the network was trained on, layer by layer.

The third signal, the depth sweep's earlier-versus-last layer accuracy, lives in `sweep`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..backbones import Backbone, BackboneChoice, hooked, imagenet_class_names
from ..data.transforms import eval_transform
from ..engine.device import pick_device

log = logging.getLogger(__name__)

BN_EPS = 1e-3  # the variance floor of the TF-ported BatchNorm layers (see notes/cpu-and-weights.md)


@dataclass(frozen=True)
class Similarity:
    """The similarity signals with the sample they were measured on (None: not measurable)."""

    sample: int
    head_confidence: float | None = None  # mean top-1 softmax probability of the ImageNet head
    head_entropy: float | None = None  # mean entropy / log(1000): 0 certain, 1 uniform
    imagenet_classes: list[tuple[str, float]] = field(default_factory=list)  # most frequent top-1, share
    bn_shift: float | None = None  # mean over BN layers of the median |mu_d - mu_in| / sigma_in
    bn_kl: float | None = None  # mean over BN layers of the median Gaussian KL(dataset || ImageNet)
    bn_layers: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def measure_similarity(backbone: BackboneChoice, images: Sequence[torch.Tensor], device: str = "auto") -> Similarity:
    """The ImageNet-head and BatchNorm signals on decoded sample images (uint8 (3, H, W)).

    Only meaningful for ImageNet weights: with other weights the signals are None.
    """
    if str(backbone.weights).lower() != "imagenet" or not len(images):
        return Similarity(sample=0)
    model = backbone.create(include_top=True)
    probs, bn = _run(model, images, device)
    return Similarity(sample=len(images), **_head_signals(probs, model), **bn)


@torch.no_grad()
def _run(model: Backbone, images, device: str) -> tuple[np.ndarray, dict]:
    target = pick_device(device)
    model.eval().to(target)
    transform = eval_transform(model.preprocessing)
    norms = [m for m in model.body.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    moments = [_Moments() for _ in norms]
    chunks = []
    with hooked(pre=[(m, acc.hook) for m, acc in zip(norms, moments)]):
        for first in range(0, len(images), 32):
            batch = torch.stack([transform(img) for img in images[first : first + 32]]).to(target)
            chunks.append(model(batch).float().softmax(1).cpu().numpy())  # fp32: statistics, not speed
    return np.concatenate(chunks), _bn_signals(norms, moments)


class _Moments:
    """Running per-channel sum and sum of squares of a BatchNorm layer's input."""

    def __init__(self):
        self.count, self.total, self.squares = 0, None, None

    def hook(self, _module, inputs):
        x = inputs[0].detach().float()  # (B, C, H, W)
        total = x.sum(dim=(0, 2, 3), dtype=torch.float64)
        squares = x.square().sum(dim=(0, 2, 3), dtype=torch.float64)
        self.total = total if self.total is None else self.total + total
        self.squares = squares if self.squares is None else self.squares + squares
        self.count += x.numel() // x.shape[1]

    def mean_var(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        return mean.cpu().numpy(), (self.squares / self.count - mean * mean).clamp_min(0).cpu().numpy()


def _bn_signals(norms: list[nn.Module], moments: list[_Moments]) -> dict:
    shifts, kls = [], []
    for norm, acc in zip(norms, moments):
        if acc.count == 0 or norm.running_mean is None:
            continue
        mean, var = acc.mean_var()
        ref_mean = norm.running_mean.double().cpu().numpy()
        ref_var = norm.running_var.double().cpu().numpy() + BN_EPS
        var = var + BN_EPS
        shifts.append(float(np.median(np.abs(mean - ref_mean) / np.sqrt(ref_var))))
        kl = 0.5 * (np.log(ref_var / var) + (var + (mean - ref_mean) ** 2) / ref_var - 1.0)
        kls.append(float(np.median(kl)))
    if not shifts:
        return {}
    return {"bn_shift": float(np.mean(shifts)), "bn_kl": float(np.mean(kls)), "bn_layers": len(shifts)}


def _head_signals(probs: np.ndarray, model: Backbone) -> dict:
    if probs.shape[1] < 2:
        return {}
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1) / np.log(probs.shape[1])
    names = imagenet_class_names(probs.shape[1])
    top = Counter(int(i) for i in probs.argmax(1)).most_common(3)
    return {"head_confidence": float(probs.max(1).mean()), "head_entropy": float(entropy.mean()),
            "imagenet_classes": [(names[i], round(n / len(probs), 3)) for i, n in top]}
