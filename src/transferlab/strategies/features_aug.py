"""`features-aug`: augmentation at the speed of cached features.

The frozen base sees K augmented views of every training image once (each view cached on
disk); the head then trains on all views plus the clean one. This gives a frozen-base model
the benefit of augmentation (the notes' "Alternative 2") at K times the cost of plain
feature extraction, instead of a forward pass through the base every epoch.
"""

from __future__ import annotations

import time

import numpy as np

from ..features import FeatureSet, cached_features
from ..models.classifier import Classifier
from ..models.heads import Head
from .common import RunContext, StrategyOutcome, make_backbone, resolve_preprocessing
from .endtoend import decode_split
from .linear import split_features, train_head


def run_features_aug(ctx: RunContext) -> StrategyOutcome:
    config = ctx.config
    backbone = make_backbone(config)
    pre = backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    start = time.perf_counter()
    clean = split_features(ctx, backbone, config.layer, pre)
    decoded, _ = decode_split(ctx, ctx.splits.train, pre.resize_size, pre.interpolation)
    views = [cached_features(backbone, ctx.splits.train, config.layer, pre, device=config.device,
                             progress=ctx.progress, decoded=decoded, augment=config.augment or "medium",
                             view=k, seed=config.seed)
             for k in range(config.views)]
    extract_seconds = time.perf_counter() - start
    train = _stack([clean["train"], *views])
    head = Head(train.features.shape[1], len(ctx.splits.classes), config.hidden, config.dropout)
    history = train_head(ctx, head, train, clean["val"], default_epochs=max(8, 40 // (config.views + 1)))
    details = {"views": config.views, "augment": config.augment or "medium",
               "train_vectors": int(len(train.labels)), "extract_seconds": round(extract_seconds, 2)}
    return StrategyOutcome(Classifier(backbone, head, config.layer), history, details)


def _stack(sets: list[FeatureSet]) -> FeatureSet:
    return FeatureSet(
        np.concatenate([s.features for s in sets]),
        np.concatenate([s.labels for s in sets]),
        tuple(p for s in sets for p in s.paths),
        sets[0].skipped,
    )
