"""A run's calibration: the temperature its logits are divided by, and how unlike its training
images an input is (cosine distance, in pooled-feature space, to the nearest class centroid).

Fitting lives in `evaluation.calibration` and `strategies.calibrate`; this module holds the
result, saves and loads it (`calibration.safetensors`, no pickle) and applies it in a forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import TransferlabError
from ..paths import RunDir
from .classifier import Classifier
from .storage import load_checked, save_checked


@dataclass(frozen=True)
class Calibration:
    """What a run learned about its own confidences; `Calibration()` changes nothing (old runs).

    Attributes:
        temperature: logits are divided by it before the softmax.
        centroids: (K, D) unit-length class means of the training images' unit pooled features;
            None: no unknown flag.
        threshold: an unlike score above it flags the image as unknown.
        quantile: the share of validation images scoring at most `threshold`.
    """

    temperature: float = 1.0
    centroids: np.ndarray | None = field(default=None, repr=False, compare=False)  # an array: no ==
    threshold: float | None = None
    quantile: float | None = None

    @property
    def has_unknown(self) -> bool:
        return self.centroids is not None and self.threshold is not None

    def to_dict(self) -> dict:
        """The scalars, for model.json and summary.json (the arrays go to calibration.safetensors)."""
        return {"temperature": self.temperature, "unknown_threshold": self.threshold,
                "unknown_quantile": self.quantile}


def class_centroids(features: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(K, D) unit-length class means of the unit-length `features` (N, D).

    Not centred on the training mean: centred, an image of another kind still points towards some
    class (on flowers vs steel defects, 2 % of the steel images were flagged instead of 100 %).
    """
    unit = _unit(features)
    centroids = np.zeros((classes, features.shape[1]), dtype=np.float32)
    for k in range(classes):
        if np.any(labels == k):
            centroids[k] = _unit(unit[labels == k].mean(axis=0, keepdims=True))[0]
    return centroids


def unlike_scores(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """(B,) in [0, 2]: 1 - the cosine similarity of each feature to its nearest class centroid."""
    return 1.0 - (nn.functional.normalize(features.float(), dim=1) @ centroids.T).max(dim=1).values


class Calibrated(nn.Module):
    """(B, 3, S, S) -> (logits / temperature, unlike scores (B,)); scores are 0 without centroids."""

    def __init__(self, classifier: Classifier, calibration: Calibration):
        super().__init__()
        self.classifier = classifier
        # buffers, not floats: the OpenVINO cache key and `.to(device)` then see them
        self.register_buffer("temperature", torch.tensor(float(calibration.temperature)))
        centroids = calibration.centroids if calibration.centroids is not None else np.zeros((0, 0))
        self.register_buffer("centroids", torch.as_tensor(centroids, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.classifier.pooled_features(x)
        head = self.classifier.head
        # a scratch CNN's top is part of its backbone: it runs the conv base a second time
        logits = head(features) if head is not None else self.classifier(x)
        if self.centroids.numel() == 0:
            return logits / self.temperature, features.new_zeros(len(x))
        return logits / self.temperature, unlike_scores(features, self.centroids)


def save_calibration(calibration: Calibration, run_dir) -> None:
    """The arrays of `calibration` in `calibration.safetensors` (nothing to write without them)."""
    if calibration.centroids is None:
        return
    save_checked({"centroids": torch.as_tensor(calibration.centroids)}, RunDir(run_dir).calibration)


def load_calibration(run_dir, meta: dict) -> Calibration:
    """The calibration recorded in model.json (`meta`); a run from before calibration gets T = 1, no flag."""
    scalars = meta.get("calibration") or {}
    temperature = float(scalars.get("temperature", 1.0))
    path = RunDir(run_dir).calibration
    if scalars.get("unknown_threshold") is None or not path.is_file():
        return Calibration(temperature)
    try:
        tensors, _ = load_checked(path)
    except Exception as exc:
        raise TransferlabError(f"{path}: cannot read the calibration ({exc}); retrain or restore the file") from None
    return Calibration(temperature, tensors["centroids"].numpy(), float(scalars["unknown_threshold"]),
                       scalars.get("unknown_quantile"))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
