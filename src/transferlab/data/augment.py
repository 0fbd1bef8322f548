"""Training augmentation presets on uint8 tensors (torchvision.transforms.v2)."""

from __future__ import annotations

from torchvision.transforms import v2

from ..backbones.preprocessing import Preprocessing
from ..errors import unknown_name
from .transforms import eval_transform, interpolation_mode, to_model_input

PRESETS = ("none", "light", "medium", "heavy")


def train_transform(pre: Preprocessing, preset: str = "light") -> v2.Compose:
    """uint8 (3, H, W) -> augmented, normalised float (C, S, S)."""
    if preset not in PRESETS:
        raise unknown_name("augmentation preset", preset, PRESETS)
    if preset == "none":
        return eval_transform(pre)
    size, mode = pre.input_size, interpolation_mode(pre.interpolation)
    steps = {
        "light": [v2.RandomResizedCrop(size, scale=(0.5, 1.0), interpolation=mode, antialias=True),
                  v2.RandomHorizontalFlip()],
        "medium": [v2.RandomResizedCrop(size, scale=(0.3, 1.0), interpolation=mode, antialias=True),
                   v2.RandomHorizontalFlip(),
                   v2.RandomAffine(degrees=10, translate=(0.1, 0.1)),
                   v2.ColorJitter(0.2, 0.2, 0.2)],
        "heavy": [v2.RandomResizedCrop(size, scale=(0.2, 1.0), interpolation=mode, antialias=True),
                  v2.RandomHorizontalFlip(),
                  v2.RandomAffine(degrees=20, translate=(0.15, 0.15), shear=10),
                  v2.ColorJitter(0.4, 0.4, 0.4, 0.05)],
    }[preset]
    return v2.Compose(steps + to_model_input(pre))
