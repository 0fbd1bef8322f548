"""Training a whole classifier on decoded images (fine-tuning and from scratch)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.augment import AugmentSpec, resolve_augment, train_transform
from ..data.decode import DecodedImages, decode_images
from ..data.scan import ImageSet
from ..data.transforms import eval_transform
from ..engine.checkpoint import load_weights
from ..engine.schedule import lr_multiplier
from ..engine.trainer import Trainer
from ..models.classifier import Classifier
from ..paths import atomic_write_text
from .common import RunContext, image_batches, make_loss, make_optimizer, standard_callbacks
from .linear import _maybe_resume

log = logging.getLogger(__name__)


def decode_split(ctx: RunContext, images: ImageSet, short_side: int, interpolation: str) -> tuple[DecodedImages, list[int]]:
    """Decode a split once; return the images and the labels of those that decoded."""
    decoded, _ = decode_images(images.paths, short_side, interpolation, progress=ctx.progress)
    label_of = dict(zip(images.paths, images.labels))
    return decoded, [label_of[p] for p in decoded.paths]


def train_on_images(
    ctx: RunContext,
    classifier: Classifier,
    groups: list[dict],
    train: tuple[DecodedImages, list[int]],
    val: tuple[DecodedImages, list[int]],
    epochs: int,
    phase: str,
    augment: str | AugmentSpec | None,
    bn_policy: str | None,
    earlier_rows: list[dict] | None = None,
) -> list[dict]:
    """Train `classifier` end to end on images with augmentation; keep the best epoch's weights.

    The resolved augmentation is written to `augment.yaml` in the run directory (reusable as
    `--augment runs/x/augment.yaml`). Images stay decoded uint8 at the working size; each epoch
    augments them afresh on tensors.
    """
    config = ctx.config
    pre = classifier.preprocessing
    (train_images, train_labels), (val_images, val_labels) = train, val
    spec = record_augment(ctx, augment)
    batches = image_batches(train_images.images, train_labels, train_transform(pre, spec),
                            config.batch_size, config.seed, config.workers, device=ctx.device)
    val_batches = image_batches(val_images.images, val_labels, eval_transform(pre), 64, 0, config.workers,
                                shuffle=False, device=ctx.device)(0)
    steps = max(1, len(train_labels) // config.batch_size)
    optimizer = make_optimizer(config.optimizer, groups, 0.01 if config.weight_decay is None else config.weight_decay)
    classifier.to(ctx.device).to(memory_format=torch.channels_last)
    trainer = Trainer(
        classifier, optimizer, make_loss(config, train_labels, len(ctx.splits.classes)), ctx.device,
        lr_multiplier(config.schedule, epochs * steps, warmup_steps=max(1, steps // 2)),
        standard_callbacks(ctx, steps, earlier_rows), l1=config.l1, max_norm=config.max_norm,
        bn_policy=bn_policy, seed=config.seed,
    )
    _maybe_resume(ctx, trainer)
    trainer.fit(batches, val_batches, epochs, phase=phase)
    load_weights(classifier, ctx.path("best.safetensors"))
    return trainer.state["history"]


def record_augment(ctx: RunContext, augment: str | AugmentSpec | None) -> AugmentSpec:
    """Resolve the augmentation spec, log it and save it as `augment.yaml` in the run directory."""
    spec = resolve_augment(augment)
    log.info("augmentation %s: %s", spec.name, ", ".join(op.name for op in spec.ops) or "none")
    atomic_write_text(ctx.path("augment.yaml"), f"# augmentation '{spec.name}', resolved\n" + spec.to_yaml())
    return spec


def labels_array(labels: list[int]) -> np.ndarray:
    return np.asarray(labels, dtype=np.int64)
