"""Whether mirroring an image keeps its class, measured, so that fine-tuning flips only where it does.

The sweep's probe at the chosen layer, fitted on the training part of each of the CV's first folds,
is scored on that fold's held-out images and on the same images mirrored left-right. Photos,
textures and micrographs lose next to nothing; digits and letters lose a lot, since a mirrored
"2" is no "2" (flip test-time augmentation cost digits 1.1 points, BENCHMARKS.md).

The same two scorings give flip test-time augmentation's worth to a frozen base: the probe's
probabilities averaged over each image and its mirror image, against the image alone. On small
data the probe also scores the six views of `--tta crops` (the centre crop, its mirror image and
the four corner crops): crops gained 1.0-1.7 points with `linear` on flowers and plant_leaves
(BENCHMARKS.md), and cost 6 passes over val and test.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data.augment import resolve_augment
from ..data.decode import decode_images
from ..data.transforms import TTA_VIEW_COUNTS
from ..evaluation.predictions import score_images
from ..features import AugmentedView, FeatureSet, cached_features
from ..features.probes import probe_to_head
from ..models.classifier import Classifier
from .session import Session
from .sweep import SweepResult, cv_folds, layer_label

# Mirroring changes the class where it costs the held-out images more than this share of accuracy
# and more than two paired standard errors. Measured with lite0 (held-out images, drop in points):
# digits 231, 24.2; mnist5k 640, 3.9; flowers 120, 1.7; plant_leaves 190, -1.1 (mirrored scored higher).
FLIP_DROP = 0.02
# Test-time views are kept where they win at least this many held-out images more than they lose:
# one is noise (flowers: flips won 1 of 120 held-out images, then lost 1 of 300 validation ones).
TTA_MIN_GAIN = 2
TTA_TRIED = ("flip", "crops")  # test-time modes a winning trial's model is scored with on its held-out fold
# The mirror test scores the held-out images of the CV's first folds until they reach this many:
# on small data all of them (fold 0 alone was 120 images on flowers, too few to tell views apart).
MIRROR_IMAGES = 800
MIRROR = resolve_augment([{"op": "hflip", "p": 1.0}]).canonical()


class FlipTest(NamedTuple):
    """Held-out accuracy (the CV's first folds) on the images, on their mirror images, and averaged over both."""

    accuracy: float
    mirrored: float
    images: int
    se: float  # standard error of the paired difference
    averaged: float = 0.0
    averaged_gain: int = 0  # images the average gets right and the image alone wrong, minus the reverse
    crops: float = 0.0  # the probe averaged over the six views of `--tta crops`
    crops_gain: int | None = None  # as averaged_gain; None: not measured

    def gains(self) -> dict[str, int]:
        """The paired gain of each test-time mode measured."""
        return {"flip": self.averaged_gain, **({} if self.crops_gain is None else {"crops": self.crops_gain})}

    @property
    def keeps_class(self) -> bool:
        return self.accuracy - self.mirrored <= max(FLIP_DROP, 2 * self.se)


def flip_test(s: Session, sweep: SweepResult, layer: str | None, features: FeatureSet,
              crops: bool = False) -> FlipTest | None:
    """The probe of the sweep's row at `layer`, fitted on the training part of each of the CV's
    first folds (`_enough_folds`) and scored on the fold's held-out images as they are and
    mirrored; with `crops`, where mirroring keeps the class and it fits the budget, also averaged
    over the crops views. None where mirroring them does not fit the budget (or none could be read)."""
    row = {p: i for i, p in enumerate(features.paths)}
    order = [row[p] for p in sweep.paths]
    x, y = features.features[order], np.asarray(features.labels)[order]
    folds = _enough_folds(cv_folds(y, s.seed))
    images = _images(s, [sweep.paths[i] for _, held in folds for i in held])
    if not s.clock.fits(s.throughput.extraction(len(images))):
        return None
    mirrored = cached_features(s.base, images, layer, s.base.preprocessing, s.extraction,
                               view=AugmentedView(MIRROR, 0, s.seed))
    at = {p: i for i, p in enumerate(mirrored.paths)}
    C = next(r.C for r in sweep.rows if r.layer == layer)
    # an image unreadable now is left out
    probes = [FoldProbe(_fit_probe(x[train], y[train], C, s.seed),
                        np.array([i for i in held if sweep.paths[i] in at], dtype=int)) for train, held in folds]
    held = np.concatenate([probe.held for probe in probes])
    if not len(held):
        return None
    probs = np.concatenate([probe.pipeline.predict_proba(x[probe.held]) for probe in probes])
    flipped = np.concatenate([probe.pipeline.predict_proba(mirrored.features[[at[sweep.paths[i]] for i in probe.held]])
                              for probe in probes])
    classes, labels = probes[0].pipeline.classes_, y[held]
    plain, mirror = classes[probs.argmax(1)] == labels, classes[flipped.argmax(1)] == labels
    both = classes[(probs + flipped).argmax(1)] == labels
    diff = plain.astype(float) - mirror
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    test = FlipTest(float(plain.mean()), float(mirror.mean()), len(held), se, float(both.mean()), paired_gain(both, plain))
    if not crops or not test.keeps_class or not np.array_equal(classes, np.arange(len(s.train.classes))):
        return test
    paths = [sweep.paths[i] for i in held]
    return _with_crops(s, test, layer, probes, sweep.paths, y, dict(zip(paths, plain)))


class FoldProbe(NamedTuple):
    """A CV fold's probe (standardisation, then logistic regression) and its held-out rows."""

    pipeline: Pipeline
    held: np.ndarray


def _enough_folds(folds: list) -> list:
    """The CV's first folds, until their held-out images reach `MIRROR_IMAGES` (small data: all
    of them, so that every training image is scored once)."""
    taken, images = [], 0
    for fold in folds:
        if images >= MIRROR_IMAGES:
            break
        taken.append(fold)
        images += len(fold[1])
    return taken


def _fit_probe(x: np.ndarray, y: np.ndarray, C: float, seed: int) -> Pipeline:
    with warnings.catch_warnings():  # an unconverged probe still compares the views fairly
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=300, random_state=seed)).fit(x, y)


def _with_crops(s: Session, test: FlipTest, layer: str | None, probes: list[FoldProbe], paths: tuple[str, ...],
                labels: np.ndarray, plain_of: dict[str, bool]) -> FlipTest:
    """`test` with each fold's probe scored on its held-out images (rows of `paths`, `labels`)
    averaged over the crops views, against the image alone (`plain_of`); as it is where that
    pass does not fit the budget."""
    if not s.clock.fits(TTA_VIEW_COUNTS["crops"] * s.throughput.extraction(len(plain_of))):
        return test
    pre, hits, alone = s.base.preprocessing, [], []
    for probe in probes:
        label_of = {paths[i]: labels[i] for i in probe.held}
        decoded, _ = decode_images(list(label_of), pre.resize_size, pre.interpolation)
        classifier = Classifier(s.base, probe_to_head(probe.pipeline, len(s.train.classes)), layer)
        probs, _ = score_images(classifier, decoded.images, pre, device=s.extraction.device,
                                engine=s.extraction.engine, tta="crops")
        hits.append(probs.argmax(1) == np.array([label_of[p] for p in decoded.paths]))
        alone.append(np.array([plain_of[p] for p in decoded.paths]))
    hits, alone = np.concatenate(hits), np.concatenate(alone)
    return test._replace(crops=float(hits.mean()), crops_gain=paired_gain(hits, alone))


def ranked_views(gains: dict[str, int]) -> list[str]:
    """The test-time modes whose paired gain is `TTA_MIN_GAIN` at least, best first (ties: fewer views)."""
    kept = [mode for mode, gain in gains.items() if gain >= TTA_MIN_GAIN]
    return sorted(kept, key=lambda mode: (-gains[mode], TTA_VIEW_COUNTS[mode]))


def paired_gain(hits: np.ndarray, plain: np.ndarray) -> int:
    """Images right in `hits` and wrong in `plain`, minus the reverse."""
    return int(np.sum(hits & ~plain) - np.sum(~hits & plain))


def flip_sentence(test: FlipTest | None, layer: str | None) -> str:
    if test is None:
        return "Mirror test: not run (no time or no readable image for it); fine-tuning flips images as usual."
    verdict = ("mirroring keeps the class: fine-tuning flips images" if test.keeps_class else
               "mirroring changes the class: fine-tuning does not flip images")
    crops = "" if test.crops_gain is None else f" Averaged over the crops views: {test.crops:.4f}."
    return (f"Mirror test ({test.images} held-out images, probe at {layer_label(layer)}): {test.accuracy:.4f} as they "
            f"are, {test.mirrored:.4f} mirrored (flips change the class beyond a drop of {100 * FLIP_DROP:.0f} points "
            f"and two paired standard errors, {200 * test.se:.2f}): {verdict}.{crops}")


def _images(s: Session, paths: list[str]):
    row = {p: i for i, p in enumerate(s.train.paths)}
    return s.train.subset([row[p] for p in paths])
