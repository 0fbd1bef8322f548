"""`advise`: measure a dataset against a pretrained backbone and recommend how to train on it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..backbones import BackboneChoice, get_backbone_spec, offline_weights_available
from ..data import DataSplits, ImageSet, load_splits
from ..errors import DataError
from ..data.decode import decode_images
from ..data.scan import recording_skips
from ..data.transforms import TTA_VIEW_COUNTS
from ..features import ExtractionOptions
from .advice import Advice, Plan
from .backbone_choice import choose_backbone, not_compared
from .budget import Clock, format_seconds, parse_budget
from .cost import measure_throughput, probe_seconds
from .dataset import MIN_PER_CLASS, dataset_facts, grey_share, load_for_advice
from .decide import (choose_layer, finetune_sides, pick_candidate, quadrant, similarity_votes, size_class,
                     wants_class_weights)
from .multitap import cached_layer_features, in_forward_order
from .flips import FlipTest, flip_sentence, flip_test, ranked_views
from .plan import (describe_layer, every_layer_trial, fine_tuning_first, frozen_candidates, is_last_trial,
                   make_plan, trial_candidate)
from .session import Session
from .similarity import measure_similarity
from ..data.scan import stratified_subsample
from .sweep import MAX_CV_SAMPLES, SWEEP_CS, SweepResult, depth_sweep, sweep_layers

log = logging.getLogger(__name__)

SIGNAL_SAMPLE = 256  # images decoded for the similarity signals and the throughput timing
# Cheaper backbones to fall back to, in order, when the sweep does not fit the budget.
SMALLER = ("efficientnet_lite2", "efficientnet_lite1", "efficientnet_lite0")
NO_FLIP = "light-noflip"  # fine-tuning's augmentation where mirroring changes the class
HEAVY = ("vgg16", "vgg19", "resnet50", "inception_v3", "xception")  # several times lite0's cost per image


@dataclass(frozen=True)
class AdviseOptions:
    """How `advise` measures.

    Attributes:
        budget: seconds (or "10m") for advice plus training; None for no limit.
        seed, val_fraction: as `train` (the same split, so cached features are shared).
        views: augmented views per image for the `features-aug` candidate.
        now: the time source the budget is spent against (tests fix it).
        extraction: device, engine, precision and progress bars of every frozen pass (as the
            run's, so cached features are shared).
        alternatives: other backbones to compare with the asked-for one (`alternative_backbones`);
            empty: the backbone is fixed.
    """

    budget: str | float | None = None
    seed: int = 0
    val_fraction: float = 0.2
    views: int = 5
    now: Callable[[], float] = field(default=time.perf_counter, compare=False)
    extraction: ExtractionOptions = ExtractionOptions()
    alternatives: tuple[str, ...] = ()

    def clock(self) -> Clock:
        return Clock(None if self.budget is None else parse_budget(self.budget), self.now)


def advise(data: str, backbone: BackboneChoice = BackboneChoice(), options: AdviseOptions = AdviseOptions(),
           splits: DataSplits | None = None) -> Advice:
    """Measure `data` and recommend a strategy with its settings, reasons and cost.

    Args:
        data: a folder, CSV or built-in dataset name (as `train`).
        backbone: the pretrained network to transfer from.
        options: budget, split, device and the other measuring options.
        splits: already-loaded splits (`train --strategy auto` passes its own).

    Returns:
        The advice. Data too small to probe (a class with fewer than 2 images) gets advice
        that says so with a fallback plan instead of an error.
    """
    with recording_skips():  # one warning per unusable file, however often the advice reads it
        return _advise(data, backbone, options, splits)


def _advise(data: str, backbone: BackboneChoice, options: AdviseOptions, splits: DataSplits | None) -> Advice:
    everything, clock = None, options.clock()
    if splits is None:
        splits, everything = load_for_advice(data, options.val_fraction, options.seed)
    if splits is None or min(splits.train.counts().values()) < MIN_PER_CLASS:
        return _too_small(data, backbone, everything or splits.train, clock)
    if str(backbone.weights).lower() == "none":
        return _no_pretraining(data, backbone.name, splits, clock)
    s = Session(data, splits, backbone.create(), backbone, options.seed, options.extraction, options.views, clock)
    sample = _measure_machine(s)
    facts = dataset_facts(s.splits.name, s.train, s.splits.val, s.splits.val_from_train, grey_share(sample), s.seed)
    backbones = _backbones(s, sample, facts, options.alternatives) if options.alternatives else ()
    return replace(_measure_and_decide(s, sample, facts), backbones=backbones)


def probe_depths(data: str, backbone: BackboneChoice = BackboneChoice(), layers: list[str | None] | None = None,
                 options: AdviseOptions = AdviseOptions()) -> tuple[SweepResult, str]:
    """The depth sweep alone: pooled features of every stage (one cached pass over the training
    split) and a cross-validated logistic probe on each. Returns the sweep and the dataset name.

    Of `options`, the split (`seed`, `val_fraction`) and `extraction` apply.

    Raises:
        DataError: the data cannot be loaded, or a class has too few images to cross-validate.
    """
    splits = load_splits(data, options.val_fraction, options.seed)
    name, count = min(splits.train.counts().items(), key=lambda item: item[1])
    if count < MIN_PER_CLASS:
        raise DataError(f"class '{name}' has {count} training image(s): a cross-validated probe needs at least "
                        f"{MIN_PER_CLASS} per class; add images")
    base = backbone.create()
    if layers:  # shallow to deep, the end of the base last
        layers = in_forward_order(base, [n for n in layers if n is not None]) + ([None] if None in layers else [])
    features = cached_layer_features(base, splits.train, layers or sweep_layers(base), options=options.extraction)
    return depth_sweep(features, options.seed), splits.name


def _measure_machine(s: Session) -> list:
    """Decode a sample (timed), time the backbone; step down to a smaller one if needed."""
    pick = stratified_subsample(np.asarray(s.train.labels), SIGNAL_SAMPLE, s.seed)
    pre = s.base.preprocessing
    start = time.perf_counter()  # a cost measurement (the cost model's), not the budget's clock
    decoded, skipped = decode_images([s.train.paths[i] for i in pick], pre.resize_size, pre.interpolation)
    decode_seconds = (time.perf_counter() - start) / max(1, len(pick))
    if not decoded.images:
        raise DataError(f"none of the {len(pick)} sampled training images could be read (e.g. {skipped[0]})")
    sample = s.sample = list(decoded.images)
    s.throughput = measure_throughput(s.base, sample, decode_seconds, s.extraction)
    while not s.clock.fits(_sweep_seconds(s, len(s.train)) + s.held_out_seconds()) and _step_down(s, sample):
        pass
    return sample


def _sweep_seconds(s: Session, images: int) -> float:
    layers = sweep_layers(s.base)
    uncached = any(not s.is_cached(s.train, layer) for layer in layers)
    probes = len(layers) * probe_seconds(min(MAX_CV_SAMPLES, images), 512, 5 * len(SWEEP_CS))
    return (s.throughput.extraction(images) if uncached else 0.0) + probes


def _step_down(s: Session, sample: list) -> bool:
    """Switch to the next smaller backbone with ImageNet weights at hand; False if there is none.

    Only for `imagenet` weights: a weights file belongs to its own architecture.
    """
    name = s.base.name
    if s.backbone.weights != "imagenet":
        return False
    ladder = SMALLER[SMALLER.index(name) + 1:] if name in SMALLER else (SMALLER[-1:] if name in HEAVY else ())
    for smaller in ladder:
        if not offline_weights_available(get_backbone_spec(smaller)):
            continue
        s.base = replace(s.backbone, name=smaller).create()
        s.throughput = measure_throughput(s.base, sample, s.throughput.decode, s.extraction)
        s.clock.give_up(f"backbone {smaller} instead of {name} (the depth sweep of {name} does not fit the budget)")
        return True
    return False


def _backbones(s: Session, sample: list, facts, alternatives: tuple[str, ...]) -> tuple:
    """The alternatives compared with `s.base` (the winner becomes `s.base`), unless large data's
    budget belongs to fine-tuning `s.base`."""
    large = size_class(facts)[0] == "large"
    why = fine_tuning_first(s, large, _sides(s, facts))
    return not_compared(s, alternatives, why) if why else choose_backbone(s, sample, alternatives)


def _sides(s: Session, facts) -> list[int | None]:
    return [None] if s.backbone.input_size else finetune_sides(facts, s.base.preprocessing.input_size)


def _measure_and_decide(s: Session, sample: list, facts) -> Advice:
    similarity = measure_similarity(replace(s.backbone, name=s.base.name), sample, s.extraction.device)
    layers = sweep_layers(s.base)
    features = cached_layer_features(s.base, _sweep_images(s), layers, options=s.extraction)
    sweep = depth_sweep(features, s.seed)
    layer, layer_reason = choose_layer(sweep)
    size, size_reason = size_class(facts)
    votes, similar, similar_reason = similarity_votes(similarity, sweep, layer)
    cell = quadrant(size, similar)
    s.reasons += [size_reason, similar_reason,
                  f"Quadrant {cell['cell']}: the notes advise {cell['notes_advise']}.", layer_reason]
    # flips in fine-tuning, and test-time views: measured first, so that the trial is planned on what is left
    flips = flip_test(s, sweep, layer, features[layer], crops=size == "small")
    s.reasons.append(flip_sentence(flips, layer))
    candidates, chosen = _candidates(s, sweep, layers, layer, features[layer], cell, _sides(s, facts),
                                     _frozen_views_seconds(s, flips))
    if flips is not None and not flips.keeps_class:
        candidates = [replace(c, settings={**c.settings, "augment": NO_FLIP}) if c.strategy == "finetune" else c
                      for c in candidates]
    plan = _with_test_time_views(s, make_plan(s, chosen, wants_class_weights(facts)), flips)
    s.reasons.append(_closing_sentence(s, plan, facts))
    marked = tuple(replace(c, status="chosen") if c is chosen else c for c in candidates)
    gains = () if flips is None else tuple((mode, flips.first_fold_share(mode)) for mode in flips.gains())
    return Advice(s.data, s.base.name, s.backbone.weights, facts, plan, tuple(s.reasons), cell, votes, similarity,
                  sweep, marked, s.throughput, s.clock.to_dict(), tuple(s.warnings), s.clock.elapsed(),
                  views_gains=gains)


def _candidates(s: Session, sweep, layers, layer, train_features, cell: dict, sides: list[int | None],
                views_seconds: float):
    """Frozen candidates compared by CV, the cheapest of the best chosen; fine-tuning (at the
    first of the input `sides` that fits; None: the backbone's) measured by a trial, which leaves
    time for the frozen pick and its test-time views (`views_seconds`) should it lose."""
    candidates = frozen_candidates(s, sweep, layer, train_features, cell["size"] == "small")
    frozen, compare_reason = pick_candidate(candidates)
    s.reasons.append(compare_reason)
    fallback = replace(frozen, estimated_seconds=frozen.estimated_seconds + views_seconds)
    finetune, finetune_reason = trial_candidate(s, layers, layer, cell["similarity"], fallback, sweep, sides)
    if finetune_reason:
        s.reasons.append(finetune_reason)
    if finetune is None:
        return candidates, frozen
    trials = [finetune]
    if not is_last_trial(finetune.settings):
        second, second_reason = every_layer_trial(s, layers, layer, frozen, sweep, finetune)
        trials += [] if second is None else [second]
        s.reasons += [second_reason] if second_reason else []
    return candidates + trials, frozen


def _sweep_images(s: Session) -> ImageSet:
    """The training images the sweep extracts: at most `MAX_CV_SAMPLES` (its probes see no more;
    on large data a frozen run extracts the rest only if it is the one that runs), fewer where
    that pass would not fit the budget."""
    count = min(len(s.train), MAX_CV_SAMPLES)
    if not s.clock.fits(_sweep_seconds(s, count) + s.held_out_seconds(), share=0.6):
        count = max(2 * len(s.train.classes), int(0.4 * s.clock.left() / s.throughput.extraction(1)))
        s.clock.give_up(f"the depth sweep on {min(count, len(s.train))} of {len(s.train)} training images (budget)")
    if count >= len(s.train):
        return s.train
    return s.train.subset(stratified_subsample(np.asarray(s.train.labels), count, s.seed).tolist())


def _frozen_views_seconds(s: Session, flips: FlipTest | None) -> float:
    """What scoring val and test with the test-time views a frozen plan would take adds (`_with_test_time_views`)."""
    modes = [] if flips is None or not flips.keeps_class else ranked_views(flips.gains())
    return TTA_VIEW_COUNTS[modes[0]] * s.held_out_seconds() if modes else 0.0


def _with_test_time_views(s: Session, plan: Plan, flips: FlipTest | None) -> Plan:
    """`plan` scoring with the test-time views (`flip`, or on small data `crops`) that got at
    least `TTA_MIN_GAIN` more of the mirror test's held-out images right than the image alone
    with the probe (the most; ties: fewer views), where the passes over val and test with them fit
    the budget."""
    if flips is None or not flips.keeps_class:
        return plan
    gains = flips.gains()
    for mode in ranked_views(gains):
        cost = TTA_VIEW_COUNTS[mode] * s.held_out_seconds()
        if not s.clock.fits(plan.estimated_seconds + cost):
            s.clock.give_up(f"{mode} test-time views (scoring val and test {TTA_VIEW_COUNTS[mode]} times, about "
                            f"{format_seconds(cost)})")
            continue
        accuracy = flips.crops if mode == "crops" else flips.averaged
        s.reasons.append(f"Test-time views: averaging the probe over the {TTA_VIEW_COUNTS[mode]} views of {mode} got "
                         f"{gains[mode]} more of the mirror test's {flips.images} held-out images right "
                         f"({accuracy:.4f} against {flips.accuracy:.4f}): predictions average over them.")
        return replace(plan, settings={**plan.settings, "tta": mode}, estimated_seconds=plan.estimated_seconds + cost)
    return plan


def _closing_sentence(s: Session, plan: Plan, facts) -> str:
    where = describe_layer(plan.settings.get("layer"))
    text = f"Recommended: {plan.strategy} on {where}"
    if plan.strategy == "finetune":
        settings = plan.settings
        text = f"Recommended: finetune for {settings['epochs']} epochs with {settings['augment']} augmentation"
    if plan.settings.get("class_weights"):
        text += f", with class weights (imbalance {facts.imbalance:.1f}:1)"
    if plan.settings.get("tta"):
        text += f", predictions averaged over test-time views ({plan.settings['tta']})"
    return text + f"; estimated run time {format_seconds(plan.estimated_seconds)} on {s.throughput.device}."


def _too_small(data: str, backbone: BackboneChoice, images: ImageSet, clock: Clock) -> Advice:
    facts = dataset_facts(str(data), images, None, False)
    name, count = facts.smallest_class
    reasons = (f"Class '{name}' has {count} image(s): with fewer than 2 images in a class there is no "
               f"validation split and no cross-validation, so nothing can be measured.",
               "Add images (at least 2 per class to train at all; a few dozen per class to measure anything), "
               "or provide a val/ folder.",
               "Fallback once it can be split: linear on the end of the conv base, without cross-validation "
               "(the notes' choice for small data similar to ImageNet, and the cheapest).")
    plan = Plan("linear", {"layer": None}, 0.0)
    return Advice(str(data), backbone.name, backbone.weights, facts, plan, reasons, budget=clock.to_dict(),
                  warnings=(reasons[0],), seconds=clock.elapsed(), too_small=True)


def _no_pretraining(data: str, backbone: str, splits: DataSplits, clock: Clock) -> Advice:
    facts = dataset_facts(splits.name, splits.train, splits.val, splits.val_from_train)
    reasons = ("Weights 'none': there is nothing pretrained to transfer, so neither the similarity signals "
               "nor the depth sweep mean anything.",
               "The notes' remaining option is to train from scratch: strategy scratch with augmentation.")
    plan = Plan("scratch", {"augment": "medium"}, 0.0)
    return Advice(str(data), backbone, "none", facts, plan, reasons, budget=clock.to_dict(), seconds=clock.elapsed())
