"""What a backbone expects of its input: size, resize/crop, interpolation, mean and std."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Preprocessing:
    """Eval-time preprocessing: RGB/255, shorter side to `resize_size`, centre crop, normalise.

    Attributes:
        input_size: side of the square crop fed to the network.
        crop_pct: `input_size / resize_size`; 1.0 means resize straight to the crop size.
        interpolation: "bilinear" or "bicubic".
        mean: per-channel mean on the 0-1 scale.
        std: per-channel std on the 0-1 scale.
    """

    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def resize_size(self) -> int:
        """Shorter-side size before the centre crop: floor(input_size / crop_pct)."""
        return int(math.floor(self.input_size / self.crop_pct))

    def at_size(self, input_size: int) -> "Preprocessing":
        """The same preprocessing for another input size."""
        return replace(self, input_size=int(input_size))

    def with_normalisation(self, mean, std) -> "Preprocessing":
        """The same preprocessing with another mean/std (e.g. 0-1 or dataset statistics)."""
        return replace(self, mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))

    def to_dict(self) -> dict:
        """Plain dict for JSON/YAML and cache keys."""
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        """Inverse of `to_dict`."""
        return cls(
            input_size=int(data["input_size"]),
            crop_pct=float(data["crop_pct"]),
            interpolation=str(data["interpolation"]),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
        )
