"""Training a whole classifier on decoded images (fine-tuning and from scratch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..data import DecodedDataset
from ..data.augment import AugmentSpec, resolve_augment, train_transform
from ..data.decode import DecodedImages, decode_images
from ..data.mix import BatchMix, batch_mix, describe_mix
from ..data.scan import ImageSet
from ..data.transforms import eval_transform
from ..engine.batches import image_batches
from ..engine.distributed import barrier, current_world
from ..engine.lr_find import RangeTestOptions, RangeTestResult, StepHook, lr_range_test, range_test_steps
from ..engine.optim import make_loss, make_optimizer
from ..engine.schedule import lr_multiplier
from ..engine.trainer import Trainer, TrainerOptions
from ..errors import DataError, TransferlabError
from ..models.classifier import Classifier
from ..models.storage import load_weights
from ..paths import atomic_write_text
from .common import RunContext, maybe_resume, standard_callbacks

log = logging.getLogger(__name__)


def decode_split(ctx: RunContext, images: ImageSet, short_side: int, interpolation: str) -> tuple[DecodedImages, list[int]]:
    """Decode a split once; return the images and the labels of those that decoded."""
    decoded, _ = decode_images(images.paths, short_side, interpolation, progress=ctx.progress)
    label_of = dict(zip(images.paths, images.labels))
    return decoded, [label_of[p] for p in decoded.paths]


@dataclass(frozen=True)
class Phase:
    """One end-to-end training phase.

    Attributes:
        name: the phase as metrics.csv and the history name it ("finetune", "scratch").
        epochs: epochs to train (counting those a resumed run already did).
        augment: the augmentation spec (as `data.augment.resolve_augment` takes).
        bn_policy: BatchNorm policy while training (see `models.freezing`).
    """

    name: str
    epochs: int
    augment: str | AugmentSpec | None = None
    bn_policy: str | None = None


def train_on_images(
    ctx: RunContext,
    classifier: Classifier,
    groups: list[dict],
    train: tuple[DecodedImages, list[int]],
    val: tuple[DecodedImages, list[int]],
    phase: Phase,
    earlier_rows: list[dict] | None = None,
) -> list[dict]:
    """Train `classifier` end to end on images with augmentation; keep the best epoch's weights.

    The resolved augmentation is written to `augment.yaml` in the run directory (reusable as
    `--augment runs/x/augment.yaml`). Images stay decoded uint8 at the working size; each epoch
    augments them afresh on tensors.
    """
    config = ctx.config
    pre = classifier.preprocessing
    world = current_world()
    (train_images, train_labels), (val_images, val_labels) = train, val
    _check_batches(len(train_labels), len(val_labels), config.batch_size, world)
    spec = record_augment(ctx, phase.augment)
    batches = image_batches(DecodedDataset(train_images.images, train_labels, train_transform(pre, spec)),
                            config.batch_size, config.seed, config.workers, device=ctx.device, world=world,
                            per_epoch=config.epoch_images)
    val_batches = image_batches(DecodedDataset(val_images.images, val_labels, eval_transform(pre)), 64, 0,
                                config.workers, shuffle=False, device=ctx.device, world=world)(0)
    steps = max(1, min(len(train_labels), config.epoch_images or len(train_labels)) // config.batch_size)
    optimizer = make_optimizer(config.optimizer, groups, 0.01 if config.weight_decay is None else config.weight_decay)
    classifier.to(ctx.device).to(memory_format=torch.channels_last)
    if world.active:
        synchronise_batch_norm(classifier, ctx.device, phase.bn_policy)
    trainer = Trainer(
        classifier, optimizer, make_loss(config, train_labels, len(ctx.splits.classes)), ctx.device,
        lr_multiplier(config.schedule, phase.epochs * steps, warmup_steps=max(1, steps // 2)),
        standard_callbacks(ctx, steps, earlier_rows),
        TrainerOptions(l1=config.l1, max_norm=config.max_norm, bn_policy=phase.bn_policy, seed=config.seed,
                       distributed=True, mix=batch_mixing(ctx)),
    )
    maybe_resume(ctx, trainer)
    trainer.fit(batches, val_batches, phase.epochs, phase=phase.name)
    barrier()  # rank 0 has written the best weights
    load_weights(classifier, ctx.files.best)
    return trainer.state["history"]


def _check_batches(train: int, val: int, batch_size: int, world) -> None:
    """Data that every rank can share equally, and a validation set to choose the best epoch on."""
    if not val:
        raise DataError("none of the validation images could be read: the best epoch cannot be chosen")
    if world.active and batch_size % world.size:
        raise TransferlabError(f"--batch-size {batch_size} is not divisible by the {world.size} processes: "
                               f"each takes an equal share of every batch")
    if world.active and train < batch_size:
        raise DataError(f"{train} training images are fewer than one batch of {batch_size}: with {world.size} "
                        f"processes every batch must be full; lower --batch-size")


def synchronise_batch_norm(classifier: Classifier, device: torch.device, bn_policy: str | None) -> None:
    """BatchNorm layers that learn statistics share them across processes (SyncBatchNorm, CUDA only).

    On the CPU, where PyTorch has no SyncBatchNorm, each process normalises with the statistics
    of its own share of the batch (said once in the log).
    """
    if bn_policy == "frozen" or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in classifier.modules()):
        return
    if device.type != "cuda":
        log.info("BatchNorm statistics are per process: SyncBatchNorm needs CUDA")
        return
    for name, child in list(classifier.named_children()):
        setattr(classifier, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


def batch_mixing(ctx: RunContext, on: str = "images") -> BatchMix | None:
    """The run's MixUp/CutMix (`--mixup`, `--cutmix`) as the trainer's batch transform, logged."""
    config = ctx.config
    mix = batch_mix(config.mixup, config.cutmix, len(ctx.splits.classes))
    if mix is not None:
        log.info("batch mixing on the %s: %s", on, describe_mix(config.mixup, config.cutmix))
    return mix


def record_augment(ctx: RunContext, augment: str | AugmentSpec | None) -> AugmentSpec:
    """Resolve the augmentation spec, log it and save it as `augment.yaml` in the run directory."""
    spec = resolve_augment(augment)
    log.info("augmentation %s: %s", spec.name, ", ".join(op.name for op in spec.ops) or "none")
    if current_world().is_main:
        atomic_write_text(ctx.files.augment, f"# augmentation '{spec.name}', resolved\n" + spec.to_yaml())
    return spec


def range_test_on_images(ctx: RunContext, classifier: Classifier, groups: list[dict],
                         train: tuple[DecodedImages, list[int]], phase: Phase,
                         on_step: StepHook | None = None, rule: str = "min10") -> RangeTestResult:
    """The learning-rate range test (`engine.lr_find`) on the batches `train_on_images` would train on.

    The same augmentation, batch size, optimiser, loss and BatchNorm policy; every group keeps
    its ratio to the head's rate; `rule` picks the suggestion (`RangeTestOptions.rule`). The
    classifier's weights are as they were afterwards.
    """
    config = ctx.config
    images, labels = train
    augment = train_transform(classifier.preprocessing, resolve_augment(phase.augment))
    dataset = DecodedDataset(images.images, labels, augment)
    batches = image_batches(dataset, config.batch_size, config.seed, config.workers, device=ctx.device)
    # copies: the optimiser writes the swept rates into the group dicts it is given
    optimizer = make_optimizer(config.optimizer, [dict(g) for g in groups],
                               0.01 if config.weight_decay is None else config.weight_decay)
    classifier.to(ctx.device).to(memory_format=torch.channels_last)
    options = RangeTestOptions(steps=range_test_steps(len(labels) // config.batch_size),
                               bn_policy=phase.bn_policy or "frozen", seed=config.seed, rule=rule)
    loss = make_loss(config, labels, len(ctx.splits.classes))
    return lr_range_test(classifier, optimizer, loss, batches, ctx.device, options, on_step)
