"""`checkup`: every check of the data in one pass over the cached features of every split."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from ..backbones import Backbone, BackboneChoice, Preprocessing
from ..data import DataSplits, load_splits
from ..data.scan import recording_skips
from ..features import ExtractionOptions, FeatureSet, cached_features
from .duplicates import check_threshold, exact_duplicates, fingerprints, near_duplicates
from .facts import fact_notes, measure_facts
from .findings import EXACT, LABEL, NEAR, OUTLIER, Checkup, Finding
from .labels import label_issues, out_of_fold_probabilities
from .outliers import outlier_scores, outliers
from .pool import Pool

log = logging.getLogger(__name__)

# More images than this share in near-duplicate pairs: the rule does not discriminate on this data
# (planted faults: 10 near copies among 2,600 images; neu_steel_defects, distinct textures: 31 %).
NEAR_SHARE_LIMIT = 0.05


@dataclass(frozen=True)
class DoctorOptions:
    """How `checkup` loads and measures.

    Attributes:
        layer: the layer whose pooled features are compared (None: the end of the conv base).
        val_fraction, seed: as `train` (the same split, so cached features are shared).
        extraction: how the network runs (device, engine, precision, progress bars).
    """

    layer: str | None = None
    val_fraction: float = 0.2
    seed: int = 0
    extraction: ExtractionOptions = ExtractionOptions()


def checkup(data: str, backbone: BackboneChoice = BackboneChoice(),
            options: DoctorOptions = DoctorOptions()) -> Checkup:
    """Check `data` for duplicates, leaks between splits, likely label errors and outliers.

    Args:
        data: a folder, CSV or built-in dataset name (as `train`).
        backbone: the network whose features are compared.
        options: layer, split, device and progress.

    Raises:
        DataError: the data cannot be loaded.
    """
    splits = load_splits(data, options.val_fraction, options.seed)
    base = backbone.create()
    return check_splits(splits, base, options)


def check_splits(splits: DataSplits, base: Backbone, options: DoctorOptions = DoctorOptions(),
                 preprocessing: Preprocessing | None = None) -> Checkup:
    """`checkup` on loaded splits and a built backbone (a run report passes the run's own)."""
    start = time.perf_counter()
    pre = preprocessing or base.preprocessing
    with recording_skips():  # one warning per unreadable file
        sets = {name: cached_features(base, images, options.layer, pre, options.extraction)
                for name, images in (("train", splits.train), ("val", splits.val), ("test", splits.test))
                if images is not None and len(images)}
        pool = _pool(sets, splits.classes)
        hashes, thumbs = fingerprints(pool.paths)
        findings, labels_checked = _findings(pool, hashes, thumbs, options.seed)
        findings[NEAR], near_note = _discriminating(findings[NEAR], len(pool))
        threshold = check_threshold(base, pool, thumbs, options.layer, pre, options.extraction, options.seed)
        facts = measure_facts(splits, options.seed)
    notes = fact_notes(facts, pre.input_size) + ([near_note] if near_note else [])
    if not labels_checked:
        notes.append("labels not checked: a class has fewer than 2 images, so no cross-validation exists")
    if threshold.caught < threshold.copies:
        notes.append(f"only {threshold.caught} of {threshold.copies} augmented copies of sample images are found as "
                     f"near-duplicates with {base.name} features: some near-duplicates may be missed")
    result = Checkup(splits.name, base.name, {name: len(s.paths) for name, s in sets.items()}, findings,
                     facts.to_dict(), tuple(notes), threshold, time.perf_counter() - start,
                     all(s.from_cache for s in sets.values()))
    _warn_leaks(result)
    return result


def _findings(pool: Pool, hashes: list[str], thumbs: np.ndarray, seed: int) -> tuple[dict, bool]:
    """Every kind of finding, and whether the labels could be checked."""
    with threadpool_limits(1, user_api="blas"):  # small BLAS calls: threads only wait on busy cores
        probabilities = out_of_fold_probabilities(pool, seed)
        unusual = tuple(outliers(pool, outlier_scores(pool, seed)))
        # an outlier has no right class to suggest: it is reported once, as an outlier
        labels = () if probabilities is None else label_issues(pool, probabilities,
                                                                frozenset(f.paths[0] for f in unusual))
        findings = {EXACT: tuple(exact_duplicates(pool, hashes)), NEAR: tuple(near_duplicates(pool, hashes, thumbs)),
                    LABEL: tuple(labels), OUTLIER: unusual}
    return findings, probabilities is not None


def _discriminating(near: tuple[Finding, ...], images: int) -> tuple[tuple[Finding, ...], str | None]:
    """`near` as found, or, when the rule pairs more than `NEAR_SHARE_LIMIT` of the images, the same
    pairs no longer counted as leaks, and a note saying why.

    On very uniform data (steel textures, scans) distinct images reach the rule's similarities:
    on neu_steel_defects 31 % of the images have a neighbour above it. Such a rule cannot
    tell a copy from a look-alike, so it must not announce leaks.
    """
    paired = {path for finding in near for path in finding.paths}
    share = len(paired) / max(1, images)
    if share <= NEAR_SHARE_LIMIT:
        return near, None
    note = (f"near-duplicate rule not discriminating on this data: {share:.0%} of the images have a neighbour "
            f"above it (distinct images of uniform data look alike); its pairs are listed but not counted as "
            f"leaks; look at them (doctor --out) before removing any")
    return tuple(replace(f, trusted=False) for f in near), note


def _pool(sets: dict[str, FeatureSet], classes: tuple[str, ...]) -> Pool:
    names = [name for name, s in sets.items() for _ in s.paths]
    return Pool(tuple(p for s in sets.values() for p in s.paths), tuple(names),
                np.concatenate([s.labels for s in sets.values()]).astype(np.int64), tuple(classes),
                np.concatenate([s.features for s in sets.values()]).astype(np.float32))


def _warn_leaks(result: Checkup) -> None:
    leaks = result.leaks
    if leaks:
        held_out = {f.paths[1] for f in leaks}
        splits = "/".join(sorted({f.splits[1] for f in leaks}))
        log.warning("LEAK: %d image(s) of %s are copies of images in another split (%d exact, %d near-duplicate "
                    "pairs): every %s score is inflated; remove them (transferlab doctor --write-clean)",
                    len(held_out), splits, sum(f.kind == EXACT for f in leaks), sum(f.kind == NEAR for f in leaks),
                    splits)
