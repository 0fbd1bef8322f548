"""Outliers: images unlike the rest of the data in feature space (wrong files, blank scans, another dataset).

The embedded features (centred, unit length) of every image are projected onto the top principal
components of the other images (out of fold, so that an outlier cannot claim a direction of its
own), the directions in which the data varies; what an image has outside them (the reconstruction
residual) is small for images of the data and large for anything else.
The score is the residual as a robust z-score: distance from the median residual in units of the
scaled median absolute deviation. Distances to class centroids, tried first, do not separate:
in 1280 dimensions every image is about equally far from every centroid (bench/doctor.py).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from .findings import OUTLIER, Finding
from .pool import Pool

COMPONENTS = 32  # principal directions kept (at most a quarter of the images)
FOLDS = 5
# Robust z above which an image is reported; planted images of another dataset score 2.2-4.6
# (bench/doctor.py). Outliers are also kept out of the label findings, where they would claim a class.
OUTLIER_Z = 2.5
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


def outlier_scores(pool: Pool, seed: int = 0) -> np.ndarray:
    """(N,) robust z-score of each image's residual outside the data's principal subspace."""
    unit = pool.embedded()
    fold = np.random.default_rng(seed).permutation(len(pool)) % FOLDS
    components = max(1, min(COMPONENTS, int((fold != 0).sum()) // 4, unit.shape[1]))
    residual = np.empty(len(pool))
    for k in range(FOLDS):
        held = fold == k
        if not held.any():
            continue
        pca = PCA(n_components=components, svd_solver="randomized", random_state=seed).fit(unit[~held])
        residual[held] = np.linalg.norm(unit[held] - pca.inverse_transform(pca.transform(unit[held])), axis=1)
    median = np.median(residual)
    spread = _MAD_TO_SIGMA * np.median(np.abs(residual - median))
    return (residual - median) / max(float(spread), 1e-9)


def outliers(pool: Pool, scores: np.ndarray, threshold: float = OUTLIER_Z) -> list[Finding]:
    """Images scoring above `threshold`, most unusual first."""
    rows = sorted(np.flatnonzero(scores > threshold), key=lambda r: -scores[r])
    return [Finding(OUTLIER, (pool.paths[r],), (pool.splits[r],), pool.label_names([r]), float(scores[r]),
                    detail=f"robust z {scores[r]:.1f} of the residual outside the data's main feature directions")
            for r in rows]
