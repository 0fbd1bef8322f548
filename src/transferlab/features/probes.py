"""Linear probes on cached features (scikit-learn), with C chosen on validation data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..models.heads import Head

log = logging.getLogger(__name__)

DEFAULT_CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# A probe fitted only to start fine-tuning (its phase 1) sees at most this many training images:
# 17,264 tiles at 96 px took ~80 s of extraction and C search, half an epoch, for a head that
# the first epoch retrains anyway.
HEAD_START_IMAGES = 4000


@dataclass(frozen=True)
class ProbeResult:
    """The chosen probe and the validation accuracy of every C tried."""

    pipeline: Pipeline
    C: float
    val_accuracy: float
    scores: dict[float, float]


def make_probe(kind: str, C: float, seed: int = 0) -> Pipeline:
    """Standardise, then logistic regression or a linear SVM."""
    if kind == "svm":
        estimator = LinearSVC(C=C, max_iter=5000, random_state=seed)
    else:
        estimator = LogisticRegression(C=C, max_iter=3000, random_state=seed)
    return make_pipeline(StandardScaler(), estimator)


def fit_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    kind: str = "logistic",
    Cs: tuple[float, ...] = DEFAULT_CS,
    seed: int = 0,
) -> ProbeResult:
    """Fit one probe per C on train and keep the best on validation.

    "Best" is the lowest validation log-loss for logistic regression (a smoother signal than
    accuracy, where one image of a few hundred moves the score), the highest accuracy for the
    SVM; ties go to the stronger regularisation (smaller C).
    """
    scores, best = {}, None
    for C in Cs:
        pipeline = make_probe(kind, C, seed).fit(train_x, train_y)
        scores[C] = float((pipeline.predict(val_x) == val_y).mean())
        criterion = _selection_score(pipeline, val_x, val_y, scores[C])
        log.info("probe %s C=%g: val accuracy %.4f", kind, C, scores[C])
        if best is None or criterion > best[2]:
            best = (C, pipeline, criterion)
    return ProbeResult(best[1], best[0], scores[best[0]], scores)


def _selection_score(pipeline: Pipeline, val_x: np.ndarray, val_y: np.ndarray, accuracy: float) -> float:
    """Higher is better: minus the log-loss when probabilities exist, else accuracy."""
    if not hasattr(pipeline[-1], "predict_proba"):
        return accuracy
    probs = pipeline.predict_proba(val_x)
    columns = np.searchsorted(pipeline[-1].classes_, val_y)
    return float(np.log(np.clip(probs[np.arange(len(val_y)), columns], 1e-12, 1.0)).mean())


def probe_to_head(pipeline: Pipeline, num_classes: int) -> Head:
    """The probe as a torch `Head` on raw features, with the standardisation folded in."""
    scaler, estimator = pipeline[0], pipeline[-1]
    weight = estimator.coef_ / scaler.scale_[None, :]  # (K or 1, C)
    bias = estimator.intercept_ - weight @ scaler.mean_
    if weight.shape[0] == 1 and num_classes == 2:  # binary: logit(1) - logit(0) = w.x + b
        weight = np.concatenate([-weight / 2, weight / 2])
        bias = np.concatenate([-bias / 2, bias / 2])
    head = Head(weight.shape[1], num_classes, hidden=0, dropout=0.0)
    with torch.no_grad():
        head.classifier.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.classifier.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return head
