"""Images whose label is likely wrong, confident-learning style.

A logistic probe on the pooled features predicts each image's class probabilities without ever
seeing that image (out-of-fold, stratified K-fold over every split). An image is suspect when the
probe gives another class at least the average probability that class gets on its own images (the
per-class threshold of confident learning, Northcutt et al. 2021), and the suspects are ranked by
the margin between that class's probability and the given label's.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..features.probes import make_probe
from .findings import LABEL, Finding
from .pool import Pool

PROBE_C = 0.1  # standardised features: medium regularisation (the depth sweep's middle value)
MAX_FOLDS = 5


def out_of_fold_probabilities(pool: Pool, seed: int = 0) -> np.ndarray | None:
    """(N, K) class probabilities, each row predicted by a probe fitted without that image;
    None when a class has fewer than 2 images (no stratified folds exist)."""
    folds = min(MAX_FOLDS, int(np.bincount(pool.labels, minlength=len(pool.classes)).min()))
    if folds < 2:
        return None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(make_probe("logistic", PROBE_C, seed), pool.features, pool.labels, cv=splitter,
                             method="predict_proba")


def label_issues(pool: Pool, probabilities: np.ndarray, exclude: frozenset[str] = frozenset()) -> list[Finding]:
    """Suspect labels, most confident other class first, each with the class it suggests.

    Args:
        exclude: paths not to report (outliers: an image from elsewhere has no right class to suggest).
    """
    labels = pool.labels
    given = probabilities[np.arange(len(labels)), labels]
    # per-class threshold: the mean probability of class k over the images labelled k
    thresholds = np.array([probabilities[labels == k, k].mean() if (labels == k).any() else 1.0
                           for k in range(probabilities.shape[1])])
    others = probabilities.copy()
    others[np.arange(len(labels)), labels] = -1.0
    suggested = others.argmax(axis=1)
    confident = others[np.arange(len(labels)), suggested] >= thresholds[suggested]
    findings = []
    for row in np.flatnonzero(confident & (suggested != labels)):
        other, own = float(others[row, suggested[row]]), float(given[row])
        if other <= own or pool.paths[row] in exclude:
            continue  # the given label is still the most likely (not a confident error), or an outlier
        name = pool.classes[suggested[row]]
        findings.append(Finding(LABEL, (pool.paths[row],), (pool.splits[row],), pool.label_names([row]),
                                other - own, suggested=name,
                                detail=f"p({name}) = {other:.2f} vs p({pool.classes[labels[row]]}) = {own:.2f} "
                                       f"out of fold"))
    return sorted(findings, key=lambda f: -f.score)
