"""`finetune`: train the head on the frozen base, then unfreeze the last blocks with small rates.

Phase 1 fits a linear head on cached features of the frozen base (exactly "train the head
on a frozen base", in seconds). Phase 2 unfreezes the last N stage groups (or everything
from a named layer) and trains them with the head, each shallower group at `lr_mult` times
the rate of the group above it (discriminative rates). All groups exist from the start.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from ..data.decode import DecodedImages
from ..data.scan import ImageSet, stratified_subsample
from ..features import cached_features, fit_probe, probe_to_head
from ..features.probes import HEAD_START_IMAGES
from ..models.classifier import Classifier
from ..models.freezing import ParamGroup, freeze_except, trainable_groups
from .common import RunContext, StrategyOutcome, make_backbone, resolve_preprocessing
from .endtoend import Phase, decode_split, range_test_on_images, train_on_images
from ..features.prefix import PREFIX_VIEWS
from .finetune_prefix import prefix_split, train_on_prefix

log = logging.getLogger(__name__)

LR, LR_MULT = 2e-4, 0.5  # the head's rate, and each shallower group's share of the rate above
# Every layer unfrozen (`--unfreeze -1`) with no rate given: one rate for all groups. At LR x
# LR_MULT per group the first blocks start at 1/64-1/32 of the head's rate and barely move; 5e-4
# everywhere gained 3.6 and 7.3 points on two held-out sets unlike ImageNet (issue 16), and
# stayed within the noise of the default on flowers (0.880 vs 0.890 on 300 images, BENCHMARKS.md).
EVERY_LAYER_LR, EVERY_LAYER_LR_MULT = 5e-4, 1.0


class FinetuneStart(NamedTuple):
    """Where phase 2 starts: the classifier with its phase-1 head, the unfrozen groups, their rates."""

    classifier: Classifier
    groups: list[ParamGroup]
    param_groups: list[dict]
    train: tuple[DecodedImages, list[int]]
    val: tuple[DecodedImages, list[int]]
    head_row: dict


def prepare_finetune(ctx: RunContext) -> FinetuneStart:
    """Decode the splits, fit the phase-1 head, freeze all but the groups to tune, give each its rate."""
    config = ctx.config
    backbone = make_backbone(config)
    pre = backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    train = decode_split(ctx, ctx.splits.train, pre.resize_size, pre.interpolation)
    val = decode_split(ctx, ctx.splits.val, pre.resize_size, pre.interpolation)
    head, head_row = _phase_one(ctx, backbone, train, val)
    groups = trainable_groups(backbone, config.unfreeze, config.unfreeze_from)
    freeze_except(backbone, groups)
    lr, mult = default_rates(config)
    param_groups = [{"params": list(head.parameters()), "lr": lr, "name": "head"}]
    named = dict(backbone.body.named_parameters())
    for depth, group in enumerate(reversed(groups), start=1):
        param_groups.append({"params": [named[n] for n in group.param_names],
                             "lr": lr * mult ** depth, "name": group.name})
    return FinetuneStart(Classifier(backbone, head), groups, param_groups, train, val, head_row)


def default_rates(config) -> tuple[float, float]:
    """The head's rate and the per-group multiplier: the given ones, else the defaults for the
    depth unfrozen (every layer: `EVERY_LAYER_LR` at one rate; otherwise `LR`, x`LR_MULT` a group)."""
    every = config.unfreeze == -1 and config.unfreeze_from is None
    lr = config.lr or (EVERY_LAYER_LR if every else LR)
    mult = config.lr_mult if config.lr_mult is not None else (EVERY_LAYER_LR_MULT if every else LR_MULT)
    return lr, mult


def run_finetune(ctx: RunContext) -> StrategyOutcome:
    config = ctx.config
    classifier, groups, param_groups, train, val, head_row = prepare_finetune(ctx)
    phase = Phase("finetune", config.epochs or 5, config.augment or "light", config.bn_policy)
    found = _rates_from_range_test(ctx, classifier, param_groups, train, phase) if config.lr_find else {}
    log.info("fine-tuning %s with rates %s", [g["name"] for g in param_groups],
             [f"{g['lr']:.2g}" for g in param_groups])
    group_lrs = {g["name"]: g["lr"] for g in param_groups}  # the base rates: the schedule rewrites g["lr"] in place
    split = prefix_split(ctx, classifier, len(train[1]))
    if split is None:
        history = train_on_images(ctx, classifier, param_groups, train, val, phase, earlier_rows=[head_row])
    else:
        history = train_on_prefix(ctx, classifier, split, param_groups, train, val, phase, [head_row])
    trainable = sum(p.numel() for p in classifier.parameters() if p.requires_grad)
    details = {"unfrozen_groups": [g.name for g in groups], "trainable_params": trainable,
               "phase1_val_acc": head_row["val_acc"], "group_lrs": group_lrs,
               "frozen_prefix": None if split is None else {"up_to": split.boundary, "views": min(phase.epochs, PREFIX_VIEWS),
                                                            "flops_share": round(split.prefix_share, 3)},
               **found}
    if config.mixup or config.cutmix:
        details["mix"] = {"mixup": config.mixup, "cutmix": config.cutmix,
                          "on": "images" if split is None else "frozen prefix's maps"}
    return StrategyOutcome(classifier, [head_row] + history, details)


def _rates_from_range_test(ctx: RunContext, classifier: Classifier, param_groups: list[dict],
                           train: tuple[DecodedImages, list[int]], phase: Phase) -> dict:
    """Scale every group's rate so the head's is the range test's suggestion (ratios kept); what to record.

    The test runs the whole network on augmented images, also where phase 2 then trains on the
    frozen prefix's maps: the same loss surface, a little slower to measure.
    """
    result = range_test_on_images(ctx, classifier, param_groups, train, phase)
    scale = result.suggestion / max(g["lr"] for g in param_groups)
    for group in param_groups:
        group["lr"] *= scale
    log.info("range test: head rate %.2g (%s, %d steps)", result.suggestion, result.rule, len(result.rates))
    return {"lr_found": result.suggestion, "lr_rule": result.rule}


def _phase_one(ctx: RunContext, backbone, train, val):
    """Linear head on the frozen base's cached features (at most `HEAD_START_IMAGES` training
    images), C chosen on validation."""
    pre = backbone.preprocessing
    feats = {name: cached_features(backbone, images, None, pre, ctx.extraction(), decoded=decoded)
             for name, images, decoded in (("train", *_phase_one_images(ctx.splits.train, train[0], ctx.config.seed)),
                                           ("val", ctx.splits.val, val[0]))}
    probe = fit_probe(feats["train"].features, feats["train"].labels, feats["val"].features, feats["val"].labels,
                      "logistic", seed=ctx.config.seed)
    row = {"epoch": -1, "phase": "head", "train_loss": float("nan"), "train_acc": float("nan"),
           "val_loss": float("nan"), "val_acc": probe.val_accuracy, "lr": float("nan"), "seconds": 0.0}
    return probe_to_head(probe.pipeline, len(ctx.splits.classes)), row


def _phase_one_images(images: ImageSet, decoded: DecodedImages, seed: int) -> tuple[ImageSet, DecodedImages]:
    """`images` and their decoded pixels, or a stratified `HEAD_START_IMAGES` of them."""
    keep = stratified_subsample(np.asarray(images.labels), HEAD_START_IMAGES, seed)
    if len(keep) == len(images):
        return images, decoded
    subset = images.subset(keep.tolist())
    row = {p: i for i, p in enumerate(decoded.paths)}
    rows = [row[p] for p in subset.paths if p in row]
    return subset, DecodedImages(tuple(decoded.paths[i] for i in rows), tuple(decoded.images[i] for i in rows),
                                 decoded.short_side)
