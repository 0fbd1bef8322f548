"""Whether mirroring an image keeps its class, measured, so that fine-tuning flips only where it does.

The sweep's probe at the chosen layer, fitted on the training part of each of the CV's first folds,
is scored on that fold's held-out images and on the same images mirrored left-right. Photos,
textures and micrographs lose next to nothing; digits and letters lose a lot, since a mirrored
"2" is no "2" (flip test-time augmentation cost digits 1.1 points, BENCHMARKS.md).

The same two scorings give flip test-time augmentation's worth to a frozen base: the probe's
probabilities averaged over each image and its mirror image, against the image alone. On small
data the probe also scores the six views of `--tta crops` (the centre crop, its mirror image and
the four corner crops): crops gained 1.0-1.7 points with `linear` on flowers and plant_leaves
(BENCHMARKS.md), and cost 6 passes over val and test; they are kept only where the held-out
images here say so (on flowers' 600 they lost 3).
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
from ..data.transforms import TTA_VIEW_COUNTS
from ..features import AugmentedView, FeatureSet, cached_features
from .budget import format_seconds
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
# the four corner crops of `--tta crops` (its other views: the image as it is, and MIRROR)
CORNERS = tuple(resolve_augment([{"op": "corner", "at": at}]).canonical() for at in range(4))


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
    first_fold: tuple[int, int, int] = (0, 0, 0)  # the CV's first fold: held-out images, flip's and crops' gains

    def first_fold_share(self, mode: str) -> float:
        """What `mode` adds to the probe's accuracy on the CV's first held-out fold (a share)."""
        images, flip, crops = self.first_fold
        return {"flip": flip, "crops": crops}.get(mode, 0) / images if images else 0.0

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
    over the six views of `--tta crops`. None where mirroring them does not fit the budget (or
    none could be read)."""
    row = {p: i for i, p in enumerate(features.paths)}
    order = [row[p] for p in sweep.paths]
    x, y = features.features[order], np.asarray(features.labels)[order]
    folds = _enough_folds(cv_folds(y, s.seed))
    images = _images(s, [sweep.paths[i] for _, held in folds for i in held])
    if not s.clock.fits(s.throughput.extraction(len(images))):
        return None
    mirrored = _view_features(s, images, layer, MIRROR)
    C = next(r.C for r in sweep.rows if r.layer == layer)
    probes = [FoldProbe(_fit_probe(x[train], y[train], C, s.seed),
                        np.array([i for i in held if sweep.paths[i] in mirrored.row], dtype=int))  # readable now
              for train, held in folds]
    first = len(probes[0].held)  # the CV's first fold, which a trial is scored on (0: none of it readable)
    probes = [probe for probe in probes if len(probe.held)]
    if not probes:
        return None
    paths = np.asarray(sweep.paths)
    probs = _fold_probs(probes, lambda rows: x[rows])
    flipped = _fold_probs(probes, lambda rows: mirrored.of(paths[rows]))
    classes, labels = probes[0].pipeline.classes_, y[np.concatenate([probe.held for probe in probes])]
    plain, mirror = classes[probs.argmax(1)] == labels, classes[flipped.argmax(1)] == labels
    both = classes[(probs + flipped).argmax(1)] == labels
    diff = plain.astype(float) - mirror
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    test = FlipTest(float(plain.mean()), float(mirror.mean()), len(labels), se, float(both.mean()),
                    paired_gain(both, plain), first_fold=(first, paired_gain(both[:first], plain[:first]), 0))
    if not crops or not test.keeps_class:
        return test
    corners = _corner_probs(s, images, layer, probes, paths)
    if corners is None:
        return test
    hits = classes[(probs + flipped + corners).argmax(1)] == labels
    return test._replace(crops=float(hits.mean()), crops_gain=paired_gain(hits, plain),
                         first_fold=(*test.first_fold[:2], paired_gain(hits[:first], plain[:first])))


class FoldProbe(NamedTuple):
    """A CV fold's probe (standardisation, then logistic regression) and its held-out rows."""

    pipeline: Pipeline
    held: np.ndarray


class ViewFeatures(NamedTuple):
    """Features of one view of some images, and each image's row."""

    features: np.ndarray
    row: dict[str, int]

    def of(self, paths) -> np.ndarray:
        return self.features[[self.row[p] for p in paths]]


def _enough_folds(folds: list) -> list:
    """The CV's first folds, until their held-out images reach `MIRROR_IMAGES` (on small data all
    of them: every image of the sweep is scored once)."""
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


def _fold_probs(probes: list[FoldProbe], features_of) -> np.ndarray:
    """Each fold's probe on the features of its held-out rows (`features_of(rows)`), folds in order."""
    return np.concatenate([probe.pipeline.predict_proba(features_of(probe.held)) for probe in probes])


def _view_features(s: Session, images, layer: str | None, view: str) -> ViewFeatures:
    """`images`' features at `layer` of the augmented view `view` (cached)."""
    found = cached_features(s.base, images, layer, s.base.preprocessing, s.extraction,
                            view=AugmentedView(view, 0, s.seed))
    return ViewFeatures(found.features, {p: i for i, p in enumerate(found.paths)})


def _corner_probs(s: Session, images, layer: str | None, probes: list[FoldProbe], paths: np.ndarray):
    """The folds' probes summed over the four corner views of `--tta crops`; None where their
    passes do not fit the budget or an image could not be read again."""
    cost = len(CORNERS) * s.throughput.extraction(len(images))
    if not s.clock.fits(cost):
        s.clock.give_up(f"weighing crops test-time views (4 passes over {len(images):,} held-out images, about "
                        f"{format_seconds(cost)})")
        return None
    views = [_view_features(s, images, layer, corner) for corner in CORNERS]
    if any(p not in view.row for view in views for probe in probes for p in paths[probe.held]):
        return None
    return sum(_fold_probs(probes, lambda rows, view=view: view.of(paths[rows])) for view in views)


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
