"""`linear` and `features`: a frozen conv base run once (cached), a head trained on its features."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..engine.batches import eval_tensor_batches, tensor_batches
from ..engine.distributed import barrier
from ..engine.optim import make_loss, make_optimizer
from ..engine.schedule import lr_multiplier
from ..engine.trainer import Trainer, TrainerOptions
from ..features import FeatureSet, cached_features, fit_probe, probe_to_head
from ..models.classifier import Classifier
from ..models.heads import Head
from ..models.storage import load_weights
from .common import RunContext, StrategyOutcome, make_backbone, maybe_resume, resolve_preprocessing, standard_callbacks

log = logging.getLogger(__name__)


def split_features(ctx: RunContext, backbone, layer: str | None, pre) -> dict[str, FeatureSet]:
    """Cached pooled features for train, val and (if present) test."""
    sets = {"train": ctx.splits.train, "val": ctx.splits.val, "test": ctx.splits.test}
    return {
        name: cached_features(backbone, images, layer, pre, ctx.extraction())
        for name, images in sets.items()
        if images is not None and len(images)
    }


def run_linear(ctx: RunContext) -> StrategyOutcome:
    """Logistic regression / linear SVM on cached features, C chosen on validation data."""
    backbone = make_backbone(ctx.config)
    backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    start = time.perf_counter()
    feats = split_features(ctx, backbone, ctx.config.layer, backbone.preprocessing)
    extract_seconds = time.perf_counter() - start
    train, val = feats["train"], feats["val"]
    probe = fit_probe(train.features, train.labels, val.features, val.labels, ctx.config.probe, seed=ctx.config.seed)
    head = probe_to_head(probe.pipeline, len(ctx.splits.classes))
    classifier = Classifier(backbone, head, ctx.config.layer)
    train_acc = float((probe.pipeline.predict(train.features) == train.labels).mean())
    row = {"epoch": 0, "phase": "linear", "train_loss": float("nan"), "train_acc": train_acc,
           "val_loss": float("nan"), "val_acc": probe.val_accuracy, "lr": float("nan"), "seconds": 0.0}
    details = {"probe": ctx.config.probe, "C": probe.C, "C_scores": {str(k): v for k, v in probe.scores.items()},
               "feature_dim": int(train.features.shape[1]), "extract_seconds": round(extract_seconds, 2),
               "features_from_cache": all(f.from_cache for f in feats.values())}
    return StrategyOutcome(classifier, [row], details)


def run_features(ctx: RunContext) -> StrategyOutcome:
    """A dense head (hidden layer + dropout, as in the notes) trained on cached features."""
    config = ctx.config
    backbone = make_backbone(config)
    backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    start = time.perf_counter()
    feats = split_features(ctx, backbone, config.layer, backbone.preprocessing)
    extract_seconds = time.perf_counter() - start
    head = Head(feats["train"].features.shape[1], len(ctx.splits.classes), config.hidden, config.dropout)
    history = train_head(ctx, head, feats["train"], feats["val"])
    details = {"feature_dim": int(feats["train"].features.shape[1]), "extract_seconds": round(extract_seconds, 2),
               "features_from_cache": all(f.from_cache for f in feats.values())}
    return StrategyOutcome(Classifier(backbone, head, config.layer), history, details)


def train_head(ctx: RunContext, head: Head, train: FeatureSet, val: FeatureSet, default_epochs: int = 40) -> list[dict]:
    """Train `head` on feature tensors with the run's optimiser, schedule and callbacks."""
    config = ctx.config
    epochs = config.epochs or default_epochs
    batch_size = max(config.batch_size, 64)
    batches = tensor_batches(train.features, train.labels, batch_size, config.seed)
    steps = int(np.ceil(len(train.labels) / batch_size))
    lr = config.lr or 1e-3
    optimizer = make_optimizer(config.optimizer, [{"params": head.parameters(), "lr": lr}],
                               1e-4 if config.weight_decay is None else config.weight_decay)
    trainer = Trainer(
        head, optimizer, make_loss(config, train.labels, head.num_classes), torch.device("cpu"),
        lr_multiplier(config.schedule, epochs * steps, warmup_steps=steps), standard_callbacks(ctx, steps),
        TrainerOptions(l1=config.l1, max_norm=config.max_norm, seed=config.seed),
    )
    maybe_resume(ctx, trainer)
    trainer.fit(batches, eval_tensor_batches(val.features, val.labels), epochs, phase="features")
    barrier()  # every rank trained the same head; rank 0 wrote its best epoch
    load_weights(head, ctx.files.best)
    return trainer.state["history"]
