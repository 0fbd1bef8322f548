"""Fine-tuning the top of a network on its frozen prefix's cached outputs.

When only the last groups are unfrozen, the frozen prefix runs once per training image and per
augmented view (`features.prefix`), and each epoch trains the unfrozen rest and the head on one
of those views (epoch e sees view e mod K). Validation runs the prefix once on the clean images.
The augmentation is the run's (`--augment`, "light" by default), drawn K times instead of once
per epoch. MixUp and CutMix (`--mixup`, `--cutmix`) act on each batch of cached maps: the maps
of two images are blended, or a box of one's map (a box of its receptive fields) pasted into the
other's, with the labels mixed alike. Blending maps at a hidden layer is Manifold Mixup
(Verma et al., 2019), a regulariser of its own standing rather than the same as blending the
images; the run's log and `summary.json` say the mixing was on the maps; full unfreezing, a distributed world, a backbone whose forward is not a chain of
modules, or maps too large for the disk budget keep the end-to-end path (`endtoend`).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.augment import train_transform
from ..data.decode import DecodedImages
from ..engine.batches import GlobalBatches
from ..engine.distributed import World, current_world
from ..engine.optim import make_loss, make_optimizer
from ..engine.schedule import lr_multiplier
from ..engine.trainer import Trainer, TrainerOptions
from ..features.prefix import PREFIX_VIEWS, cached_prefix_maps, prefix_maps_bytes
from ..models.classifier import Classifier
from ..models.storage import load_weights
from ..models.split import BackboneSplit, SuffixClassifier, split_backbone
from .common import RunContext, maybe_resume, standard_callbacks
from .endtoend import Phase, batch_mixing, record_augment

log = logging.getLogger(__name__)

PREFIX_DISK_BYTES = 8 << 30  # all views of the training set in fp16, at most


def prefix_split(ctx: RunContext, classifier: Classifier, train_images: int) -> BackboneSplit | None:
    """The split to fine-tune on, or None where the end-to-end path must run (the log says why)."""
    if not ctx.config.frozen_prefix or current_world().active or classifier.layer is not None:
        return None
    split = split_backbone(classifier.backbone)
    if split is None:
        return None
    views = PREFIX_VIEWS
    needed = views * prefix_maps_bytes(split, classifier.preprocessing.input_size, train_images)
    if needed > PREFIX_DISK_BYTES:
        log.info("frozen-prefix maps would take %.1f GB (> %.0f): the whole network runs every epoch",
                 needed / 1e9, PREFIX_DISK_BYTES / 1e9)
        return None
    log.info("the frozen prefix (%.0f%% of the forward FLOPs, up to %s) runs once per image and view",
             100 * split.prefix_share, split.boundary)
    return split


def train_on_prefix(ctx: RunContext, classifier: Classifier, split: BackboneSplit, groups: list[dict],
                    train: tuple[DecodedImages, list[int]], val: tuple[DecodedImages, list[int]],
                    phase: Phase, earlier_rows: list[dict]) -> list[dict]:
    """Train the unfrozen suffix and head on cached prefix maps; keep the best epoch's weights."""
    config, epochs = ctx.config, phase.epochs
    pre = classifier.preprocessing
    spec = record_augment(ctx, phase.augment)
    transform = train_transform(pre, spec)
    classifier.to(ctx.device)
    options = ctx.extraction()
    views = [cached_prefix_maps(classifier.backbone, split, ctx.splits.train, train[0],
                                (spec.canonical(), k, config.seed), transform, options)
             for k in range(min(epochs, PREFIX_VIEWS))]
    val_maps = cached_prefix_maps(classifier.backbone, split, ctx.splits.val, val[0], None, None, options)
    train_labels = torch.as_tensor(train[1], dtype=torch.long)
    steps = max(1, min(len(train_labels), config.epoch_images or len(train_labels)) // config.batch_size)
    optimizer = make_optimizer(config.optimizer, groups, 0.01 if config.weight_decay is None else config.weight_decay)
    model = SuffixClassifier(classifier, split.suffix).to(memory_format=torch.channels_last)
    trainer = Trainer(
        model, optimizer, make_loss(config, train[1], len(ctx.splits.classes)), ctx.device,
        lr_multiplier(config.schedule, epochs * steps, warmup_steps=max(1, steps // 2)),
        standard_callbacks(ctx, steps, earlier_rows),
        TrainerOptions(l1=config.l1, max_norm=config.max_norm, bn_policy=phase.bn_policy, seed=config.seed,
                       mix=batch_mixing(ctx, on="frozen prefix's maps")),
    )
    maybe_resume(ctx, trainer)

    def batches(epoch: int):
        maps = views[epoch % len(views)]
        sampler = GlobalBatches(len(train_labels), config.batch_size, config.seed + epoch, True, World(),
                                config.epoch_images)
        return ((_as_input(maps, idx), train_labels[idx]) for idx in sampler)

    trainer.fit(batches, _InOrder(val_maps, torch.as_tensor(val[1], dtype=torch.long)), epochs, phase=phase.name)
    load_weights(classifier, ctx.files.best)
    return trainer.state["history"]


class _InOrder:
    """Validation batches in order, re-iterable every epoch without holding them all as floats."""

    def __init__(self, maps: np.ndarray, labels: torch.Tensor, size: int = 64):
        self.maps, self.labels, self.size = maps, labels, size

    def __iter__(self):
        for first in range(0, len(self.labels), self.size):
            rows = range(first, min(first + self.size, len(self.labels)))
            yield _as_input(self.maps, rows), self.labels[first : first + self.size]


def _as_input(maps: np.ndarray, rows) -> torch.Tensor:
    """fp16 maps of `rows` -> a float32 channels_last batch."""
    batch = torch.from_numpy(np.ascontiguousarray(maps[np.asarray(list(rows))]))
    return batch.float().contiguous(memory_format=torch.channels_last)
