"""The depth sweep: a cross-validated linear probe on pooled features of every stage.

It answers "which layer to cut at" with a number per depth, measured on the TRAINING split
only (stratified K-fold), so the validation split that a run reports is never used to choose.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn

from ..backbones import Backbone
from ..data.scan import stratified_subsample
from ..features.cache import FeatureSet

log = logging.getLogger(__name__)

SWEEP_CS = (0.01, 0.1, 1.0)  # standardised features: strong, medium, weak regularisation
MAX_FOLDS = 5
MAX_CV_SAMPLES = 4000  # above this the probes see a stratified subsample (CV time grows ~linearly)


@dataclass(frozen=True)
class SweepRow:
    """One depth: its layer (None: end of the conv base), feature size and CV accuracy."""

    layer: str | None
    label: str
    dim: int
    cv_mean: float
    cv_std: float
    fold_scores: tuple[float, ...]
    C: float


@dataclass(frozen=True)
class SweepResult:
    """Accuracy by depth, shallow to deep, and which depth is best."""

    rows: tuple[SweepRow, ...]
    folds: int
    samples: int
    seconds: float
    paths: tuple[str, ...] = ()  # the images cross-validated, in fold order (`cv_folds` of their labels)

    @property
    def best(self) -> SweepRow:
        return max(self.rows, key=lambda r: (r.cv_mean, self.rows.index(r)))  # ties: the deeper

    @property
    def end(self) -> SweepRow:
        return self.rows[-1]

    def gain_over_end(self) -> tuple[float, float]:
        """(best mean - end mean, standard error of that paired difference over folds)."""
        diff = np.asarray(self.best.fold_scores) - np.asarray(self.end.fold_scores)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        return float(diff.mean()), se

    def to_dict(self) -> dict:
        gain, se = self.gain_over_end()
        return {"folds": self.folds, "samples": self.samples, "seconds": round(self.seconds, 2),
                "best": self.best.label, "gain_over_end": gain, "gain_se": se,
                "rows": [asdict(row) for row in self.rows]}


def sweep_layers(backbone: Backbone) -> list[str | None]:
    """Every stage output shallow to deep (for timm nets with a `blocks` sequence, every block),
    then None for the end of the conv base."""
    names = list(backbone.stages)
    blocks = getattr(backbone.body, "blocks", None)
    if isinstance(blocks, nn.Sequential):
        names += [f"blocks.{i}" for i in range(len(blocks))]
    order = {name: i for i, name in enumerate(backbone.layer_names())}
    return sorted(dict.fromkeys(n for n in names if n in order), key=order.__getitem__) + [None]


def layer_label(layer: str | None) -> str:
    """How a layer is shown: its name, or `end` for the end of the conv base."""
    return "end" if layer is None else layer


def depth_sweep(features: Mapping[str | None, FeatureSet], seed: int = 0, Cs: Sequence[float] = SWEEP_CS,
                max_samples: int | None = None) -> SweepResult:
    """Stratified K-fold CV accuracy of a standardised logistic probe at every layer.

    Args:
        features: layer -> features of the same training images (as `cached_layer_features` gives).
        seed: folds and subsampling.
        Cs: inverse regularisation strengths tried; each layer reports its best mean.
        max_samples: stratified subsample size for large sets (None: `MAX_CV_SAMPLES`).

    Raises:
        ValueError: a class has fewer than 2 images (no stratified CV is possible).
    """
    start = time.perf_counter()
    first = next(iter(features.values()))
    labels = first.labels
    keep = stratified_subsample(labels, max_samples or MAX_CV_SAMPLES, seed)
    folds = cv_folds(labels[keep], seed)
    with threadpool_limits(1, user_api="blas"):  # small BLAS calls: threads only wait (26x slower on 2 busy cores)
        rows = [_probe_layer(layer, feats.features[keep], labels[keep], folds, Cs, seed)
                for layer, feats in features.items()]
    result = SweepResult(tuple(rows), len(folds), int(len(keep)), time.perf_counter() - start,
                         tuple(first.paths[i] for i in keep))
    log.info("depth sweep: best %s %.4f (end %.4f) in %.1fs", result.best.label, result.best.cv_mean,
             result.end.cv_mean, result.seconds)
    return result


def cv_folds(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs: min(5, smallest class count) stratified folds."""
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    if smallest < 2:
        raise ValueError(f"a class has {smallest} image(s); cross-validation needs at least 2 per class")
    splitter = StratifiedKFold(n_splits=min(MAX_FOLDS, smallest), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _probe_layer(layer, x: np.ndarray, y: np.ndarray, folds, Cs, seed: int) -> SweepRow:
    per_c = np.array([_fold_path(x, y, train, held, Cs, seed) for train, held in folds])  # (folds, Cs)
    best = int(np.argmax(per_c.mean(0)))
    scores = tuple(float(s) for s in per_c[:, best])
    return SweepRow(layer, layer_label(layer), int(x.shape[1]), float(np.mean(scores)), float(np.std(scores)),
                    scores, float(sorted(Cs)[best]))


def _fold_path(x, y, train, held, Cs, seed: int) -> list[float]:
    """Held-out accuracy for every C (ascending), each fit warm-started from the previous one."""
    import warnings

    scaler = StandardScaler().fit(x[train])
    x_train, x_held = scaler.transform(x[train]), scaler.transform(x[held])
    probe = LogisticRegression(max_iter=300, warm_start=True, random_state=seed)
    scores = []
    with warnings.catch_warnings():  # an unconverged probe is still a fair, comparable score
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in sorted(Cs):
            probe.set_params(C=C).fit(x_train, y[train])
            scores.append(float((probe.predict(x_held) == y[held]).mean()))
    return scores
