"""Batch-level augmentation: MixUp and CutMix (torchvision.transforms.v2), soft labels out.

Per-image operations live in `augment`; these act on a whole batch after it is assembled:
each image is blended with (MixUp) or has a box pasted from (CutMix) its neighbour in the
batch, and the integer labels become the matching mixture of one-hot vectors. With both on,
one of the two is drawn per batch, as timm's `Mixup` does with its default switch
probability of one half. The draws come from the global CPU generator, which the trainer
seeds per epoch, so a resumed run mixes exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

from ..backbones.preprocessing import Preprocessing
from ..errors import TransferlabError
from .augment import AugmentSpec, train_transform, undo_normalisation

BatchMix = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def batch_mix(mixup: float, cutmix: float, num_classes: int) -> BatchMix | None:
    """(images (B, C, H, W), labels (B,)) -> (mixed images, soft labels (B, K)); None when both are off.

    Args:
        mixup: Beta(alpha, alpha) concentration of MixUp's blend weight; 0 turns MixUp off.
        cutmix: Beta(alpha, alpha) concentration of CutMix's kept area; 0 turns CutMix off.
        num_classes: K, the length of the soft labels.

    Raises:
        TransferlabError: an alpha that is negative or not a finite number.
    """
    for name, alpha in (("mixup", mixup), ("cutmix", cutmix)):
        if not 0.0 <= alpha < math.inf:
            raise TransferlabError(f"{name} alpha must be a number >= 0 (0: off), not {alpha}")
    mixes = []
    if mixup > 0:
        mixes.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix > 0:
        mixes.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    if not mixes:
        return None
    return mixes[0] if len(mixes) == 1 else v2.RandomChoice(mixes)


def describe_mix(mixup: float, cutmix: float) -> str:
    """'mixup 0.2', 'cutmix 1', 'mixup 0.2 or cutmix 1 (one per batch)' or 'none'."""
    parts = [f"{name} {alpha:g}" for name, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha > 0]
    return " or ".join(parts) + (" (one per batch)" if len(parts) == 2 else "") if parts else "none"


def mixed_caption(soft: torch.Tensor, classes: Sequence[str]) -> str:
    """The classes a soft label mixes, heaviest first, as 'cat 0.62 + dog 0.38'."""
    weights, order = soft.sort(descending=True)
    shown = [f"{classes[int(k)]} {float(w):.2f}" for w, k in zip(weights, order) if float(w) >= 0.005]
    return " + ".join(shown[:2])


def preview_mixed(images: Sequence[torch.Tensor], labels: Sequence[int], pre: Preprocessing,
                  spec: str | list | AugmentSpec | None, mix: BatchMix,
                  views: int, seed: int = 0) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per decoded uint8 image: `views` mixed versions as (uint8 (S, S, C), soft label (K,)).

    Each draw augments every image, stacks them as one batch and mixes it as training does, so
    image i is mixed with image i - 1 (the first with the last). Draws are fixed by `seed`.
    """
    augment = train_transform(pre, spec)
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    columns = []
    with torch.random.fork_rng(devices=[]):  # torchvision draws from the global CPU generator
        torch.default_generator.manual_seed(seed)
        for _ in range(views):
            mixed, soft = mix(torch.stack([augment(img) for img in images]), targets)
            columns.append([(undo_normalisation(m, pre), s) for m, s in zip(mixed, soft)])
    return [list(row) for row in zip(*columns)]
