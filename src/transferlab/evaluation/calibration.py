"""Confidences that mean something: temperature scaling and the expected calibration error.

Temperature scaling (Guo et al., 2017) divides every logit by one number T fitted on held-out
images to minimise their negative log-likelihood: the predicted classes stay the same, the
probabilities stop being over- (T > 1) or under-confident (T < 1). The expected calibration
error (ECE) is the gap between confidence and accuracy, averaged over confidence bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ECE_BINS = 15
# The class centroids of the unlike-data score come from at most this many training images
# where their features are not cached already (a fine-tuned base): on 17,264 tiles a whole pass
# over train cost ~60 s after training, for centroids that a stratified 4,000 fix as well.
CENTROID_IMAGES = 4000
T_RANGE = (0.05, 20.0)  # a fitted temperature is clipped here: beyond it the held-out set is too small to say


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: mean confidence, accuracy and how many predictions fell in it."""

    edges: np.ndarray  # (bins + 1,)
    confidence: np.ndarray  # (bins,) NaN where empty
    accuracy: np.ndarray  # (bins,) NaN where empty
    counts: np.ndarray  # (bins,)

    @property
    def ece(self) -> float:
        """Expected calibration error: |accuracy - confidence| weighted by the share of each bin."""
        filled = self.counts > 0
        if not filled.any():
            return float("nan")
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(gaps * self.counts[filled]) / self.counts.sum())


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    """Bin the top-class confidence of `probs` (N, K) and compare it with the accuracy in each bin."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct.astype(float), minlength=bins) / counts
    return ReliabilityBins(edges, mean_conf, accuracy, counts)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of `probs` (N, K) against `labels` (N,) over `bins` equal-width confidence bins."""
    return reliability_bins(probs, labels, bins).ece


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) on these held-out images."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(np.exp(float(log_t.detach())), *T_RANGE))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
