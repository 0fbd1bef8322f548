"""`scratch`: a network trained from random weights, a small CNN spec or a registered backbone."""

from __future__ import annotations

from ..models.lookup import build_scratch_classifier
from .common import RunContext, StrategyOutcome, resolve_preprocessing
from .endtoend import Phase, decode_split, train_on_images


def run_scratch(ctx: RunContext) -> StrategyOutcome:
    config = ctx.config
    classifier = build_scratch_classifier(config.model, config.backbone, len(ctx.splits.classes), config.input_size)
    backbone = classifier.backbone
    pre = backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    train = decode_split(ctx, ctx.splits.train, pre.resize_size, pre.interpolation)
    val = decode_split(ctx, ctx.splits.val, pre.resize_size, pre.interpolation)
    groups = [{"params": list(classifier.parameters()), "lr": config.lr or 1e-3, "name": "all"}]
    history = train_on_images(ctx, classifier, groups, train, val,
                              Phase("scratch", config.epochs or 20, config.augment or "none"))
    details = {"model": backbone.name, "trainable_params": sum(p.numel() for p in classifier.parameters())}
    if config.mixup or config.cutmix:
        details["mix"] = {"mixup": config.mixup, "cutmix": config.cutmix, "on": "images"}
    return StrategyOutcome(classifier, history, details)
