"""The backbone as a measured choice: every pretrained network at hand, scored by the same probe.

Each candidate's end-of-base features of the same training images (cached per backbone) get
the depth sweep's cross-validated logistic probe on the same folds, so differences are paired.
The asked-for backbone is kept unless another one beats it by more than one paired standard
error (none is tried once it scores `SATURATED`); every candidate is checked against the budget
first (a frozen pass over the compared images) and skipped with a sentence when it does not fit.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..backbones import BackboneChoice, get_backbone_spec, list_backbones, offline_weights_available
from ..data import ImageSet
from .budget import format_seconds
from .candidates import paired_se
from .cost import measure_throughput
from .decide import SATURATED
from .multitap import cached_layer_features
from .session import Session
from ..data.scan import stratified_subsample
from .sweep import MAX_CV_SAMPLES, depth_sweep, sweep_layers

log = logging.getLogger(__name__)

# The packaged ImageNet weights (offline, always compared when the backbone is not fixed).
OFFLINE_FAMILY = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
# Without a budget, only candidates at most this many times the asked-for one's cost per image.
UNBUDGETED_COST_RATIO = 4.0


@dataclass(frozen=True)
class BackboneScore:
    """One backbone: its CV accuracy at the end of the base, cost per image, and status."""

    name: str
    input_size: int
    cv_mean: float | None
    cv_se: float | None
    fold_scores: tuple[float, ...]
    seconds_per_image: float | None  # None: never measured (skipped before its cost was needed)
    status: str = "compared"  # compared | chosen | skipped: <why>

    def to_dict(self) -> dict:
        return asdict(self)


def alternative_backbones(choice: BackboneChoice, fixed: bool | None) -> tuple[str, ...]:
    """The backbones `advise` compares with `choice`: none when it is fixed.

    `fixed` None: fixed unless `choice` is the default backbone with ImageNet weights and its
    own input size. Candidates are the packaged family and every other registered backbone whose
    ImageNet weights load offline right now (a warm cache).
    """
    if fixed is None:
        default = BackboneChoice()
        fixed = (choice.name, choice.weights, choice.input_size) != (default.name, "imagenet", None)
    if fixed:
        return ()
    at_hand = [name for name in list_backbones() if name not in OFFLINE_FAMILY
               and offline_weights_available(get_backbone_spec(name))]
    family = [name for name in OFFLINE_FAMILY if offline_weights_available(get_backbone_spec(name))]
    return tuple(name for name in [*family, *at_hand] if name != choice.name)


def choose_backbone(s: Session, sample: list, alternatives: tuple[str, ...]) -> tuple[BackboneScore, ...]:
    """Score `s.base` and each alternative; switch `s.base` (and its throughput) to the winner.

    Returns every candidate's score, the kept one marked "chosen".
    """
    images = _compared_images(s)
    scores = [_score(s, s.base, s.throughput.forward, images)]
    measured = {s.base.name: (s.base, s.throughput)}
    asked_flops = forward_flops(s.base)
    for name in alternatives:
        if scores[0].cv_mean >= SATURATED:  # nothing left to gain that a CV could tell from noise
            input_size = get_backbone_spec(name).preprocessing.input_size
            scores.append(BackboneScore(name, input_size, None, None, (), None,
                                        f"skipped: {s.base.name} already scores {scores[0].cv_mean:.4f}"))
            continue
        score, entry = _try_alternative(s, replace(s.backbone, name=name).create(), sample, images, asked_flops)
        scores.append(score)
        measured[name] = entry
    winner, sentence = _winner(scores)
    s.reasons.append(sentence)
    if winner.name != s.base.name:
        s.base, s.throughput = measured[winner.name]
    log.info("advise: %s", sentence)
    return tuple(replace(c, status="chosen") if c is winner else c for c in scores)


def not_compared(s: Session, alternatives: tuple[str, ...], why: str) -> tuple[BackboneScore, ...]:
    """`s.base` kept without a comparison, for the reason `why` (a sentence); each alternative skipped."""
    s.reasons.append(why)
    log.info("advise: %s", why)
    kept = BackboneScore(s.base.name, s.base.preprocessing.input_size, None, None, (), s.throughput.forward, "chosen")
    return (kept, *(BackboneScore(name, get_backbone_spec(name).preprocessing.input_size, None, None, (), None,
                                  "skipped: large data, fine-tuning first") for name in alternatives))


def _try_alternative(s: Session, base, sample: list, images: ImageSet, asked_flops: int):
    """(score, (base, throughput)) of one alternative, or a skipped score when it does not fit.

    Its cost is first scaled by FLOPs: timing a network costs an export and a compile, not
    worth it for one that cannot fit.
    """
    ratio = forward_flops(base) / max(asked_flops, 1)
    throughput = replace(s.throughput, forward=s.throughput.forward * ratio)
    if _affordable(s, base, throughput, images, ratio):
        throughput = measure_throughput(base, sample, s.throughput.decode, s.extraction)
        if _affordable(s, base, throughput, images, throughput.forward / s.throughput.forward):
            return _score(s, base, throughput.forward, images), (base, throughput)
    cost = _pass_seconds(s, base, throughput, images)
    s.clock.give_up(f"backbone {base.name}: not compared (a frozen pass over {len(images):,} images takes "
                    f"about {format_seconds(cost)})")
    return (BackboneScore(base.name, base.preprocessing.input_size, None, None, (), throughput.forward,
                          "skipped: budget"), (base, throughput))


def _affordable(s: Session, base, throughput, images: ImageSet, cost_ratio: float) -> bool:
    """A quarter of the budget left covers the pass (without a budget: a bounded cost ratio)."""
    if s.clock.budget is None:
        return cost_ratio <= UNBUDGETED_COST_RATIO
    return s.clock.fits(_pass_seconds(s, base, throughput, images), share=0.25)


def forward_flops(base) -> int:
    """Forward FLOPs of the conv base on one image at its input size."""
    from torch.utils.flop_counter import FlopCounterMode

    side = base.preprocessing.input_size
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        base.eval().forward_features(torch.zeros(1, 3, side, side))
    return counter.get_total_flops()


def _compared_images(s: Session) -> ImageSet:
    """The images the depth sweep will see (so the winner's sweep finds its features cached): all
    of train, or a stratified `MAX_CV_SAMPLES` of it, enough for a paired standard error of a
    point or less."""
    if len(s.train) <= MAX_CV_SAMPLES:
        return s.train
    keep = stratified_subsample(np.asarray(s.train.labels), MAX_CV_SAMPLES, s.seed)
    return s.train.subset(keep.tolist())


def _pass_seconds(s: Session, base, throughput, images: ImageSet) -> float:
    return 0.0 if s.is_cached(images, None, base=base) else throughput.extraction(len(images))


def _score(s: Session, base, seconds_per_image: float, images: ImageSet) -> BackboneScore:
    """The end-of-base probe; every sweep layer is extracted in the same pass, so the depth
    sweep of the backbone that wins finds its features cached."""
    features = cached_layer_features(base, images, sweep_layers(base), options=s.extraction)
    row = depth_sweep({None: features[None]}, s.seed).end
    scores = row.fold_scores
    se = float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else None
    return BackboneScore(base.name, base.preprocessing.input_size, row.cv_mean, se, scores, seconds_per_image)


def _winner(scores: list[BackboneScore]) -> tuple[BackboneScore, str]:
    """The asked-for backbone (first) unless the best beats it by more than one paired SE."""
    asked = scores[0]
    scored = [c for c in scores if c.cv_mean is not None]
    best = max(scored, key=lambda c: (c.cv_mean, -c.seconds_per_image))
    table = ", ".join(f"{c.name} {c.cv_mean:.4f}" for c in scored)
    if best is asked or len(scored) == 1:
        return asked, f"Backbones compared by the same CV probe at the end of the base: {table}: {asked.name} kept."
    gain, se = best.cv_mean - asked.cv_mean, paired_se(best.fold_scores, asked.fold_scores)
    if gain > se:
        return best, (f"Backbones compared by the same CV probe at the end of the base: {table}: {best.name} is "
                      f"{100 * gain:.2f} points above {asked.name} (paired standard error {100 * se:.2f}): "
                      f"{best.name}.")
    return asked, (f"Backbones compared by the same CV probe at the end of the base: {table}: {best.name}'s "
                   f"gain over {asked.name} ({100 * gain:.2f} points) is within one paired standard error "
                   f"({100 * se:.2f}): {asked.name} kept.")
