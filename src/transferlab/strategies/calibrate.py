"""A finished run's calibration: the temperature fitted on validation, and the unknown flag's
threshold (the `UNKNOWN_QUANTILE` of the validation images' unlike scores)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..evaluation.calibration import ReliabilityBins, fit_temperature, reliability_bins, softmax
from ..models.calibrated import Calibration, class_centroids, unlike_scores

MIN_IMAGES = 20  # fewer validation images than this: T = 1, one number fitted on a handful says nothing
UNKNOWN_QUANTILE = 0.95  # share of in-distribution (validation) images the flag leaves alone
UNLIKE_SCORE = "1 - cosine similarity of the pooled features to the nearest class centroid of the training images"
AFTER_NOTE = ("ECE after calibration on validation is measured on the images the temperature was fitted on "
              "(optimistic); a test split's ECE is the honest number")


@dataclass(frozen=True)
class SplitOutputs:
    """A model's raw outputs on one split: logits (N, K), pooled features (N, D), labels, paths."""

    logits: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]


def fit_calibration(train: SplitOutputs, val: SplitOutputs, classes: int) -> tuple[Calibration, str | None]:
    """The run's calibration from its training features and validation outputs, and why T is 1 if it is."""
    temperature, reason = _temperature(val.logits, val.labels)
    centroids = class_centroids(train.features, train.labels, classes)
    threshold = float(np.quantile(scores_of(val.features, centroids), UNKNOWN_QUANTILE))
    return Calibration(temperature, centroids, threshold, UNKNOWN_QUANTILE), reason


def scores_of(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Unlike scores (N,) of pooled `features` (N, D), as `models.calibrated.Calibrated` computes them."""
    return unlike_scores(torch.as_tensor(features), torch.as_tensor(centroids)).numpy()


BeforeAfter = tuple[ReliabilityBins, ReliabilityBins]


def calibration_summary(calibration: Calibration, reason: str | None,
                        splits: dict[str, SplitOutputs]) -> tuple[dict, dict[str, BeforeAfter]]:
    """summary.json's `calibration` entry, and each split's reliability bins (before, after)."""
    bins, entry = {}, {"temperature": calibration.temperature, "fitted_on": "val", "not_fitted": reason,
                       "note": AFTER_NOTE}
    for name, out in splits.items():
        before = reliability_bins(softmax(out.logits), out.labels)
        after = reliability_bins(softmax(out.logits, calibration.temperature), out.labels)
        bins[name] = (before, after)
        flagged = scores_of(out.features, calibration.centroids) > calibration.threshold
        entry[name] = {"ece_before": before.ece, "ece_after": after.ece, "nll_before": _nll(out.logits, out.labels),
                       "nll_after": _nll(out.logits / calibration.temperature, out.labels), "images": len(out.labels),
                       "unknown_rate": float(flagged.mean()), "bins_before": _bins_dict(before),
                       "bins_after": _bins_dict(after)}
    entry["unknown"] = {"score": UNLIKE_SCORE, "threshold": calibration.threshold,
                        "quantile": calibration.quantile,
                        "rule": f"unknown when the score exceeds the {calibration.quantile:.0%} quantile "
                                f"of the validation images' scores"}
    return entry, bins


def _temperature(logits: np.ndarray, labels: np.ndarray) -> tuple[float, str | None]:
    """The fitted T, or 1 and the reason it was not fitted."""
    correct = logits.argmax(axis=1) == labels
    if len(labels) < MIN_IMAGES:
        return 1.0, f"{len(labels)} validation images (fewer than {MIN_IMAGES}): T = 1"
    if correct.all():
        return 1.0, "every validation image is classified correctly: nothing to fit T on, T = 1"
    return fit_temperature(logits, labels), None


def _nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood: what the temperature minimises (ECE's bins make it noisy)."""
    return float(torch.nn.functional.cross_entropy(torch.as_tensor(logits, dtype=torch.float64),
                                                   torch.as_tensor(labels, dtype=torch.long)))


def _bins_dict(bins: ReliabilityBins) -> dict:
    def listed(values):
        return [None if np.isnan(v) else round(float(v), 5) for v in values]

    return {"edges": [round(float(e), 5) for e in bins.edges], "confidence": listed(bins.confidence),
            "accuracy": listed(bins.accuracy), "counts": [int(c) for c in bins.counts]}
