"""Candidates, their costs, and the plan: what `train --strategy auto` will run.

Frozen-base candidates at the sweep's layer are compared by cross-validation on train (the
linear probe, the dense head, and on small data the dense head on augmented views). Fine-tuning,
small data or large, is measured by a trial wherever the frozen pick leaves room for it.
Each costly step is checked against the budget first and scaled down or dropped, with a
sentence saying what was given up.
"""

from __future__ import annotations

import contextlib
import logging
from typing import NamedTuple
from dataclasses import replace

import numpy as np
import torch

from ..data.augment import resolve_augment
from ..data.decode import decode_images
from ..data.transforms import TTA_VIEW_COUNTS
from ..engine.distributed import current_world
from ..features import AugmentedView, FeatureSet, cached_features
from ..features.probes import DEFAULT_CS, HEAD_START_IMAGES
from ..models.freezing import trainable_groups
from ..models.split import split_backbone
from .advice import Plan
from .budget import format_seconds
from .candidates import Candidate, cv_dense_head, features_aug_epochs, linear_candidate
from .cost import Throughput, measure_throughput, measure_train_step, probe_seconds
from .decide import MIN_FINETUNE_SIDE, finetune_settings, se_of
from .flips import TTA_TRIED
from .session import Session
from .sweep import MAX_FOLDS, SweepResult, layer_label

log = logging.getLogger(__name__)

FEATURES_EPOCHS = 40  # `features` default
AUGMENT_PRESET = "medium"  # `features-aug` default
FINETUNE_EPOCHS, MIN_FINETUNE_EPOCHS = 5, 2  # `finetune` default, and the fewest worth running
# A trial and its final run get as many epochs as the budget allows up to this: unlike data
# gained 3-7 points from 8-15 epochs over 5 (issue 16's measurements).
MAX_TRIAL_EPOCHS = 15
MIN_VIEWS = 2
# A frozen base scoring below this in CV leaves room that fine-tuning may fill; on small data
# the notes warn against fine-tuning, so it is measured (a trial) instead of assumed. At 0.97,
# digits (CV 0.972) and plant_leaves (0.98) got no trial; with one, their validation accuracy
# went from 0.962 to 0.986 and from 0.985 to 0.990 (BENCHMARKS.md). Above it a trial would
# have to beat the frozen pick by TRIAL_MARGIN, which is hardly possible.
TRIAL_BELOW = 0.995
# The trial must beat the frozen pick on the held-out fold by this share and this many images: its best
# epoch is chosen on that fold, which flatters it a little.
TRIAL_MARGIN, TRIAL_MIN_IMAGES = 0.01, 2
# Where the budget cuts a trial's epochs short: one more epoch, each on a share of train, filling
# this share of the time left, where that trains on this many times the images (else whole epochs).
FILL_SHARE, PART_EPOCH_GAIN = 0.95, 1.1
MIN_EPOCH_IMAGES = 256  # no epoch on a share below this: a few batches at any usual batch size
# Views of each held-out image a winning trial's model is scored on: as it is, then with each
# test-time mode it may choose.
HELD_OUT_VIEWS = 1 + sum(TTA_VIEW_COUNTS[mode] for mode in TTA_TRIED)
DECODE_ONCE_BYTES = 2 << 30  # as `features-aug`: decode the training images once below this
EXPLORE_PASSES = 50_000  # without a budget: the most augmented images the advice extracts (~6 min on 2 cores)


def frozen_candidates(s: Session, sweep: SweepResult, layer: str | None, train: FeatureSet,
                      small: bool) -> list[Candidate]:
    """linear, features and (small data) features-aug at `layer`, cheapest first, CV-scored."""
    n, dim = len(train.labels), train.features.shape[1]
    candidates = [linear_candidate(sweep, layer, run_seconds(s, "linear", {"layer": layer}, dim))]
    reserve = candidates[0].estimated_seconds
    folds = min(MAX_FOLDS, sweep.folds)
    cost = s.head_seconds(int(n * (folds - 1)), FEATURES_EPOCHS)
    settings = {"layer": layer}
    estimate = run_seconds(s, "features", settings, dim)
    if s.clock.fits(cost + reserve):
        with _one_thread():
            scores = cv_dense_head(train.features, train.labels, s.seed, 256, 0.5, FEATURES_EPOCHS)
        candidates.append(Candidate("features", settings, float(np.mean(scores)), se_of(scores), scores, estimate))
    else:
        candidates.append(_skipped("features", settings, estimate, s, "its cross-validation"))
    if small:
        candidates.append(_augmented_candidate(s, layer, train, reserve, folds))
    return candidates


def _augmented_candidate(s: Session, layer: str | None, train: FeatureSet, reserve: float, folds: int) -> Candidate:
    dim = train.features.shape[1]
    for views in range(s.views, min(MIN_VIEWS, s.views) - 1, -1):
        epochs = features_aug_epochs(views)
        settings = {"layer": layer, "views": views, "augment": AUGMENT_PRESET}
        cost = (s.throughput.augmented_views(len(s.train), views) + len(s.train) * s.throughput.decode
                + s.head_seconds(len(train.labels) * (views + 1) * (folds - 1), epochs))
        if s.clock.budget is None:  # no budget: a fixed amount of work, so the decision does not vary with load
            fits = views * len(s.train) <= EXPLORE_PASSES
        else:
            fits = cost <= s.clock.left() - reserve
        if fits:
            if views < s.views:
                s.clock.give_up(f"features-aug with {views} augmented views instead of {s.views} (budget)")
            views_features = _views(s, layer, views)
            with _one_thread():
                scores = cv_dense_head(train.features, train.labels, s.seed, 256, 0.5, epochs,
                                       views=[_aligned(v, train) for v in views_features])
            estimate = run_seconds(s, "features-aug", settings, dim)
            return Candidate("features-aug", settings, float(np.mean(scores)), se_of(scores), scores, estimate)
    settings = {"layer": layer, "views": s.views, "augment": AUGMENT_PRESET}
    estimate = run_seconds(s, "features-aug", settings, dim)
    if s.clock.budget is None:
        s.clock.give_up(f"features-aug: not compared ({s.views} augmented views of {len(s.train):,} training images "
                        f"exceed the advice's own limit of {EXPLORE_PASSES:,} passes; pass a budget to allow it)")
        return Candidate("features-aug", settings, None, None, (), estimate, status="skipped: too slow to compare")
    return _skipped("features-aug", settings, estimate, s, f"{s.views} augmented views of every training image")


def _views(s: Session, layer: str | None, views: int) -> list[FeatureSet]:
    """The augmented views exactly as the `features-aug` strategy caches them (so it reuses them)."""
    pre = s.base.preprocessing
    decoded = None
    if 4 * len(s.train) * pre.resize_size**2 <= DECODE_ONCE_BYTES:  # else each view streams its decoding
        decoded, _ = decode_images(s.train.paths, pre.resize_size, pre.interpolation, progress=s.extraction.progress)
    augment = resolve_augment(AUGMENT_PRESET).canonical()
    return [cached_features(s.base, s.train, layer, pre, s.extraction, decoded=decoded,
                            view=AugmentedView(augment, k, s.seed)) for k in range(views)]


def _aligned(view: FeatureSet, clean: FeatureSet) -> np.ndarray:
    if view.paths == clean.paths:
        return view.features
    row = {p: i for i, p in enumerate(view.paths)}
    return view.features[[row[p] for p in clean.paths]]


def _skipped(strategy: str, settings: dict, estimate: float, s: Session, what: str) -> Candidate:
    s.clock.give_up(f"{strategy}: not compared ({what} does not fit the budget)")
    return Candidate(strategy, settings, None, None, (), estimate, status="skipped: budget")


class FinetuneCost(NamedTuple):
    """What fine-tuning with given settings costs: the machine at the run's input side, and the
    shares of the network it trains (parameters) and leaves to the frozen prefix (FLOPs)."""

    throughput: Throughput
    trainable_share: float
    prefix_share: float

    def seconds(self, train: int, val: int, epochs: int, per_epoch: int | None = None) -> float:
        return self.throughput.finetune(train, val, epochs, self.trainable_share, self.prefix_share, per_epoch)


def _finetune_setup(s: Session, layers: list, layer: str | None, similarity: str,
                    size: int | None) -> tuple[dict, str, FinetuneCost]:
    """Where to unfreeze, at which input side, and the cost model at that side (its training step timed)."""
    settings, why = finetune_settings(layers, layer, similarity)
    trainable = _trainable_names(s, settings)
    cost = FinetuneCost(finetune_machine(s, size), _trainable_share(s, trainable), _prefix_share(s, trainable))
    if size is None:
        return settings, why, cost
    return {**settings, "input_size": size}, (
        f"{why} Fine-tune at {size} px instead of {s.base.preprocessing.input_size}: the images are much "
        f"smaller (twice their median side, at least {MIN_FINETUNE_SIDE} px)."), cost


def finetune_machine(s: Session, size: int | None) -> Throughput:
    """The machine fine-tuning `s.base` at input side `size` (None: its own) runs on: its frozen
    pass and training step, timed once per backbone and side."""
    if size is None:
        if s.throughput.train is None:
            s.throughput = replace(s.throughput, train=measure_train_step(s.base, s.sample, s.extraction.device))
        return s.throughput
    key = (s.base.name, size)
    if key not in s.machines:
        base = replace(s.backbone, name=s.base.name, input_size=size).create()
        machine = measure_throughput(base, s.sample, s.throughput.decode, s.extraction)
        s.machines[key] = replace(machine, train=measure_train_step(base, s.sample, s.extraction.device))
    return s.machines[key]


def fine_tuning_first(s: Session, large: bool, sides: list[int | None]) -> str:
    """Why the budget goes to fine-tuning `s.base` instead of comparing other backbones ("" where
    it does not): `large` data (the notes advise fine-tuning it; a trial's model is then the final
    one) whose fine-tuning fits the budget at one of `sides` but not for `FINETUNE_EPOCHS` epochs at
    the preferred one. A bigger backbone would fit fewer epochs still; where no fine-tuning fits,
    the frozen pick is final and backbones are compared.
    """
    if not large or s.clock.budget is None:
        return ""

    def seconds(size: int | None, epochs: int) -> float:  # every layer trained: large data's usual trial
        return FinetuneCost(finetune_machine(s, size), 1.0, 0.0).seconds(len(s.train), 0, epochs)

    preferred = seconds(sides[0], FINETUNE_EPOCHS)
    if s.clock.fits(preferred) or not any(s.clock.fits(seconds(size, MIN_FINETUNE_EPOCHS)) for size in sides):
        return ""
    side = sides[0] or s.base.preprocessing.input_size
    return (f"Backbones not compared: the data is large, so the budget goes to fine-tuning {s.base.name} (the notes' "
            f"advice for large data): {FINETUNE_EPOCHS} epochs at {side} px take about {format_seconds(preferred)}, "
            f"more than the {format_seconds(s.clock.left())} left, and a bigger backbone fits fewer; --backbone NAME "
            f"fixes one.")


def trial_candidate(s: Session, layers: list, layer: str | None, similarity: str, frozen: Candidate,
                    sweep: SweepResult, sides: list[int | None]) -> tuple[Candidate | None, str]:
    """Fine-tuning where the frozen features leave headroom, decided by a measured trial.

    `train --strategy auto` fine-tunes on all of train but the CV's first held-out fold and
    compares the result with the frozen pick's score on that fold; `advise` only plans it. The
    first input side in `sides` (None: the backbone's) at which the trial fits the budget is
    taken. Where a retrain on all of train for as many epochs does not fit after the trial (large
    data, always), the trial's own model is the final one: epochs gained 3-7 points on unlike
    data, a fifth more images less.
    """
    if frozen.cv_mean is None or frozen.cv_mean >= TRIAL_BELOW:
        return None, ("" if frozen.cv_mean is None else
                      f"Not fine-tuning: the frozen base already scores {frozen.cv_mean:.4f} in CV (>= {TRIAL_BELOW}); "
                      f"there is nothing left to measure a gain on.")
    baseline, margin = frozen.fold_scores[0], trial_margin(sweep.samples // sweep.folds)
    if baseline + margin > 1.0:
        return None, (f"No fine-tuning trial: {frozen.strategy} scores {baseline:.4f} on the held-out fold the "
                      f"trial is scored on, so no trial can beat it by the margin (+{margin:.4f}).")
    held = sweep.samples // sweep.folds
    for size in sides:
        settings, why, cost = _finetune_setup(s, layers, layer, similarity, size)
        scoring = _scoring_seconds(s, cost.throughput, held)
        reserve = max(fallback_seconds(s, frozen) + _view_scoring_seconds(cost.throughput, held), scoring)
        reserve_ahead = scoring if _trains_on_when_ahead(settings) else reserve
        length, trial, final = _trial_epochs(s, settings, sweep, reserve, cost, reserve_ahead)
        if length is not None:
            break
    if length is None:
        s.clock.give_up(f"the fine-tuning trial (about {format_seconds(trial)} at {MIN_FINETUNE_EPOCHS} epochs"
                        + (f" and {size} px)" if size else ")"))
        return None, f"No fine-tuning trial: it does not fit the time budget; {frozen.strategy} instead."
    if size != sides[0]:
        s.clock.give_up(f"fine-tuning at {sides[0] or s.base.preprocessing.input_size} px (it fits at {size} px)")
    chosen = {**settings, **length, "augment": "light"}
    then = ("the trial's model is the final one (a retrain on all of train for as many epochs does not fit)"
            if final is None else f"then fine-tunes on all of train (about {format_seconds(final)})")
    sentence = (f"The frozen base leaves headroom (CV {frozen.cv_mean:.4f} < {TRIAL_BELOW}): auto fine-tunes on "
                f"{len(s.train) - held:,} training images for {_epochs_text(length)} as a trial (about "
                f"{format_seconds(trial)}) and keeps fine-tuning only if it beats {frozen.strategy} on the "
                f"CV's first held-out fold ({held:,} images); if it does, {then}."
                f"{_ahead_text(frozen, reserve, reserve_ahead)} {why}")
    return Candidate("finetune", chosen, None, None, (), trial, status="trial", reserve_seconds=reserve,
                     reserve_ahead_seconds=reserve_ahead), sentence


def every_layer_trial(s: Session, layers: list, layer: str | None, frozen: Candidate, sweep: SweepResult,
                      first: Candidate) -> tuple[Candidate | None, str]:
    """A second trial beside one that fine-tunes only the top of the network: every layer at one
    rate, at the first trial's input side, where it fits after the first.

    The depth the sweep gives similar data is a guess where its similarity vote is close: on
    plant_leaves (2 of 3 signals, the sweep's gain 0.53 points against a standard error of 0.58)
    the last two groups lost to the frozen base, every layer at 5e-4 beat it by a point.
    """
    settings, why, cost = _finetune_setup(s, layers, layer, "different", first.settings.get("input_size"))
    scoring = _scoring_seconds(s, cost.throughput, sweep.samples // sweep.folds)
    reserve_ahead = scoring if _trains_on_when_ahead(settings) else first.reserve_seconds
    length, trial, _ = _trial_epochs(s, settings, sweep, first.estimated_seconds + first.reserve_seconds, cost,
                                     first.estimated_seconds + reserve_ahead)
    if length is None:
        s.clock.give_up(f"a second fine-tuning trial with every layer (about {format_seconds(trial)} at "
                        f"{MIN_FINETUNE_EPOCHS} epochs, after the first)")
        return None, ""
    chosen = {**settings, **length, "augment": first.settings["augment"]}
    return Candidate("finetune", chosen, None, None, (), trial, status="trial", reserve_seconds=first.reserve_seconds,
                     reserve_ahead_seconds=reserve_ahead), (
        f"A second trial fine-tunes every layer at one rate for {_epochs_text(length)} (about {format_seconds(trial)}) "
        f"on the same images; the better trial that beats {frozen.strategy} by the margin is kept."
        f"{_ahead_text(frozen, first.reserve_seconds, reserve_ahead)}")


def is_last_trial(settings: dict) -> bool:
    """Whether a first trial with `settings` is the last one: every layer trained (otherwise a second
    trial with every layer may follow it, `every_layer_trial`)."""
    return settings.get("unfreeze") == -1


def _trains_on_when_ahead(settings: dict) -> bool:
    """Whether a trial with `settings` is planned to train on into the frozen fallback's time once
    it leads (`engine.callbacks.Ahead`): the last trial, in one process (a distributed run has no
    deadline callback to stop a trial that does not lead)."""
    return is_last_trial(settings) and not current_world().active


def _ahead_text(frozen: Candidate, reserve: float, reserve_ahead: float) -> str:
    if reserve_ahead >= reserve:
        return ""
    return (f" Once it leads {frozen.strategy} by the margin on that fold, it trains on into the "
            f"{format_seconds(reserve - reserve_ahead)} kept back for {frozen.strategy}.")


def fallback_seconds(s: Session, frozen: Candidate) -> float:
    """What a lost trial must leave: the frozen pick's run, on the sweep's images alone (their
    features cached) where its training images' features are not cached."""
    if s.is_cached(s.train, frozen.settings.get("layer")):
        return frozen.estimated_seconds
    return max(0.0, frozen.estimated_seconds - s.throughput.extraction(len(s.train)))


def trial_margin(held_out: int) -> float:
    """How much a fine-tuning trial scored on `held_out` images must beat the frozen pick by."""
    return max(TRIAL_MARGIN, TRIAL_MIN_IMAGES / max(1, held_out))


def _trial_epochs(s: Session, settings: dict, sweep: SweepResult, reserve: float, cost: FinetuneCost,
                  reserve_ahead: float | None = None) -> tuple[dict | None, float, float | None]:
    """The most epochs (up to `MAX_TRIAL_EPOCHS`; without a budget `FINETUNE_EPOCHS`) whose trial
    and what must follow it fit the budget; None if the fewest do not fit before `reserve` (the
    frozen fallback, or scoring the trial's model). The length is planned before `reserve_ahead`
    (default `reserve`): a trial that leads the frozen pick needs no fallback, and one that does
    not by then stops at `reserve` (`engine.callbacks.Ahead`). Where the budget cuts the epochs short,
    one more on a share of train each (`_part_epochs`) where that trains on more images in all.

    Returns ({"epochs": E} and maybe "epoch_images", trial seconds, seconds of a retrain on all of
    train at that length, or None where it would not fit after the trial: the trial's model is
    then the final one).
    """
    held = sweep.samples // sweep.folds  # the sweep's first held-out fold; the trial trains on the rest of train
    n = len(s.train) - held
    most = FINETUNE_EPOCHS if s.clock.budget is None else MAX_TRIAL_EPOCHS
    machine = cost.throughput
    setup = machine.extraction(min(n, HEAD_START_IMAGES)) + machine.extraction(held)  # phase 1; held-out scoring
    ahead = reserve if reserve_ahead is None else min(reserve_ahead, reserve)

    def seconds(epochs: int, per_epoch: int | None = None) -> float:
        return cost.seconds(n, held, epochs, per_epoch) + setup

    least = seconds(MIN_FINETUNE_EPOCHS)
    if not s.clock.fits(least + reserve):
        return None, least, None
    epochs = next((e for e in range(most, MIN_FINETUNE_EPOCHS, -1) if s.clock.fits(seconds(e) + ahead)),
                  MIN_FINETUNE_EPOCHS)
    trial, length = seconds(epochs), {"epochs": epochs}
    share = _part_epochs(s, epochs, n, seconds, ahead) if epochs < most else None
    if share is not None:
        length, trial = {"epochs": epochs + 1, "epoch_images": share}, seconds(epochs + 1, share)
    final = finetune_seconds(s, {**settings, **length}, cost)
    return length, trial, final if s.clock.fits(trial + final + ahead) else None


def _scoring_seconds(s: Session, machine: Throughput, held: int) -> float:
    """What must follow a winning trial: its model's final scoring, and its views of the `held` held-out images."""
    return s.evaluation_seconds(machine) + _view_scoring_seconds(machine, held)


def _view_scoring_seconds(machine: Throughput, held: int) -> float:
    """A winning trial's model scoring its `held` held-out images again with each test-time mode
    (decoded once more): kept back with the trial's reserve, as the trial's epochs must leave it."""
    return held * (machine.decode + (HELD_OUT_VIEWS - 1) * machine.forward)


def _part_epochs(s: Session, epochs: int, n: int, seconds, reserve: float) -> int | None:
    """Training images per epoch for `epochs + 1` epochs that fill `FILL_SHARE` of the budget left
    before `reserve`, where that trains on at least `PART_EPOCH_GAIN` times the images of
    `epochs` whole ones and each epoch on `MIN_EPOCH_IMAGES` at least (`seconds(epochs, per_epoch)`:
    the trial's cost); else None.

    A budget that fits 2.8 epochs otherwise runs 2 and leaves most of an epoch's time unused
    (17,264 tiles: 120-160 s an epoch of a 600 s budget); 3 epochs of 93 % of train fill it.
    """
    more = epochs + 1
    whole, half = seconds(more, n), seconds(more, n // 2)
    per_image = (whole - half) / max(1, n - n // 2)  # seconds per image of each epoch, all epochs together
    room = FILL_SHARE * s.clock.left() - reserve - (whole - per_image * n)
    share = int(room / per_image) if per_image > 0 else n
    if share >= n or share < MIN_EPOCH_IMAGES or more * share < PART_EPOCH_GAIN * epochs * n:
        return None
    return share


def _epochs_text(length: dict) -> str:
    if length.get("epoch_images"):
        return f"{length['epochs']} epochs of {length['epoch_images']:,} images each (drawn afresh each epoch)"
    return f"{length['epochs']} epochs"


def finetune_seconds(s: Session, settings: dict, cost: FinetuneCost) -> float:
    """Estimated seconds of `train --strategy finetune` with `settings` on all of train after the advice."""
    n = len(s.train)
    phase_one = cost.throughput.extraction(min(n, HEAD_START_IMAGES)) + s.held_out_seconds(cost.throughput)
    return (cost.seconds(n, len(s.splits.val), settings["epochs"], settings.get("epoch_images")) + phase_one
            + probe_seconds(min(n, HEAD_START_IMAGES), 1280, len(DEFAULT_CS)) + s.evaluation_seconds(cost.throughput))


def run_seconds(s: Session, strategy: str, settings: dict, dim: int = 1280) -> float:
    """Estimated seconds of `train` with a frozen-base strategy after the advice (its caches are
    warm; its final scoring reads the features it extracted)."""
    layer, t = settings.get("layer"), s.throughput
    n = len(s.train)
    seconds = s.extraction_seconds(layer)
    if strategy == "linear":
        return seconds + probe_seconds(n, dim, len(DEFAULT_CS))
    if strategy == "features":
        return seconds + s.head_seconds(n, FEATURES_EPOCHS)
    views = settings["views"]
    augment = resolve_augment(AUGMENT_PRESET).canonical()
    uncached = sum(not s.is_cached(s.train, layer, (augment, k, s.seed)) for k in range(views))
    return (seconds + n * t.decode + t.augmented_views(n, uncached)
            + s.head_seconds(n * (views + 1), features_aug_epochs(views)))


def _trainable_names(s: Session, settings: dict) -> set[str]:
    """The parameters (names in the conv base's body) that fine-tuning with `settings` trains."""
    groups = trainable_groups(s.base, settings.get("unfreeze"), settings.get("unfreeze_from"))
    return {n for g in groups for n in g.param_names}


def _trainable_share(s: Session, trainable: set[str]) -> float:
    sizes = {n: p.numel() for n, p in s.base.body.named_parameters()}
    return sum(sizes[n] for n in trainable) / max(1, sum(sizes.values()))


def _prefix_share(s: Session, trainable: set[str]) -> float:
    """The share of the forward FLOPs that fine-tuning the `trainable` parameters runs once per
    image and view on the frozen-prefix path (`models.split`); 0.0 where it runs the whole
    network every epoch."""
    params = dict(s.base.body.named_parameters())
    flags = {n: p.requires_grad for n, p in params.items()}
    try:
        for name, param in params.items():
            param.requires_grad_(name in trainable)
        split = split_backbone(s.base)
    finally:
        for name, param in params.items():
            param.requires_grad_(flags[name])
    return 0.0 if split is None else split.prefix_share


def make_plan(s: Session, chosen: Candidate, class_weights: bool) -> Plan:
    """The chosen candidate as `TrainConfig` changes."""
    settings = {"layer": None, **chosen.settings}
    if class_weights and chosen.strategy != "linear":
        settings["class_weights"] = True
    return Plan(chosen.strategy, settings, chosen.estimated_seconds)


def describe_layer(layer: str | None) -> str:
    return "the end of the conv base" if layer is None else layer_label(layer)


@contextlib.contextmanager
def _one_thread():
    """Tiny heads train many times faster on one thread: thread hand-offs dominate their steps
    (measured: 3.9 s instead of 112 s for a 5-fold CV on 2 busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
