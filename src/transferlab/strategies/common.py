"""What every strategy shares: the run context, batching, optimisers, losses, preprocessing."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from ..backbones import Backbone, BackboneChoice, Preprocessing
from ..config import TrainConfig
from ..data import DataSplits, DecodedDataset
from ..data.decode import decode_images
from ..engine.callbacks import BestCheckpoint, CSVLogger, EarlyStopping, ProgressBar, ResumableState
from ..engine.checkpoint import load_training_state
from ..engine.distributed import World, current_world
from ..engine.trainer import Trainer
from ..features import ExtractionOptions
from ..models.classifier import Classifier

log = logging.getLogger(__name__)

SMALL_DATASET = 1000  # images; below this dataset statistics are a biased estimate (the notes)


@dataclass
class RunContext:
    """One training run: its config, output folder, data and switches."""

    config: TrainConfig
    out: Path
    splits: DataSplits
    device: torch.device
    progress: bool = False
    resume: bool = False
    notes: list[str] = field(default_factory=list)
    now: Callable[[], float] = time.perf_counter  # the time source a budget is spent against

    def path(self, name: str) -> Path:
        return self.out / name

    def extraction(self) -> ExtractionOptions:
        """How every frozen pass of the run goes: the config's device, precision, compile and engine."""
        config = self.config
        return ExtractionOptions(device=config.device, precision=config.precision, compile=config.compile,
                                 engine=config.engine, progress=self.progress)


@dataclass
class StrategyOutcome:
    """What a strategy hands back: the trained classifier and how it got there."""

    classifier: Classifier
    history: list[dict]
    details: dict = field(default_factory=dict)


def make_backbone(config: TrainConfig) -> Backbone:
    """The config's backbone without its top (weights as configured)."""
    return BackboneChoice(config.backbone, config.weights, config.input_size).create()


def resolve_preprocessing(ctx: RunContext, base: Preprocessing) -> Preprocessing:
    """Apply the config's input normalisation to the backbone's preprocessing."""
    mode = ctx.config.normalisation
    if mode == "backbone":
        return base
    if mode == "0-1":
        return base.with_normalisation((0.0,) * len(base.mean), (1.0,) * len(base.std))
    return base.with_normalisation(*_dataset_statistics(ctx, base))


def _dataset_statistics(ctx: RunContext, pre: Preprocessing) -> tuple[list[float], list[float]]:
    train = ctx.splits.train
    if len(train) < SMALL_DATASET:
        message = (
            f"normalising with statistics of only {len(train)} training images: if they are not varied "
            f"enough the mean/std are biased against real-world images (the notes' warning)"
        )
        log.warning(message)
        ctx.notes.append(message)
    rng = np.random.default_rng(ctx.config.seed)
    sample = rng.choice(len(train), size=min(len(train), 500), replace=False)
    decoded, _ = decode_images([train.paths[i] for i in sample], 64)
    pixels = torch.cat([img.reshape(3, -1).float() / 255.0 for img in decoded.images], dim=1)
    if len(pre.mean) == 1:
        pixels = pixels.mean(0, keepdim=True)
    return pixels.mean(1).tolist(), pixels.std(1).clamp_min(1e-3).tolist()


def tensor_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> Callable[[int], DataLoader]:
    """Epoch -> shuffled batches of in-memory tensors, the order fixed by `seed + epoch`."""
    dataset = TensorDataset(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long))

    def for_epoch(epoch: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + epoch)
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)

    return for_epoch


def eval_tensor_batches(x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> DataLoader:
    """Batches in order, for evaluation."""
    dataset = TensorDataset(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def image_batches(dataset: DecodedDataset, batch_size: int, seed: int, workers: int | None = 0,
                  shuffle: bool = True, device: torch.device | None = None,
                  world: World | None = None) -> Callable[[int], DataLoader]:
    """Epoch -> batches of `dataset` (transformed decoded images), shuffled by `seed + epoch`.

    `workers=None` picks a number for `device` (`loader_workers`); batches are pinned for CUDA.
    In a distributed `world`, `batch_size` is the global batch: each rank takes its share of
    every batch a single process would run, so the effective batch stays the same.
    """
    cuda = device is not None and device.type == "cuda"
    workers = loader_workers(device) if workers is None else workers
    world = world or World()

    def for_epoch(epoch: int) -> DataLoader:
        sampler = GlobalBatches(len(dataset), batch_size, seed + epoch, shuffle, world)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=cuda)

    return for_epoch


class GlobalBatches(Sampler):
    """The batches of one epoch: a seeded permutation cut into global batches, each split by rank.

    Args:
        count: items in the dataset.
        batch_size: items per global batch (all ranks together).
        seed: seeds the permutation (the same on every rank).
        shuffle: permute (training, where a last partial batch is dropped) or keep the order.
        world: this rank takes items `rank, rank + size, ...` of every global batch.
    """

    def __init__(self, count: int, batch_size: int, seed: int, shuffle: bool, world: World):
        self.count, self.batch_size, self.seed, self.shuffle, self.world = count, batch_size, seed, shuffle, world
        self.stop = count - count % batch_size if shuffle and count > batch_size else count

    def __iter__(self):
        order = (torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed)) if self.shuffle
                 else torch.arange(self.count))
        for first in range(0, self.stop, self.batch_size):
            share = order[first : first + self.batch_size][self.world.rank :: self.world.size]
            if len(share):
                yield share.tolist()

    def __len__(self) -> int:
        starts = range(0, self.stop, self.batch_size)
        return sum(1 for first in starts if min(self.batch_size, self.stop - first) > self.world.rank)


def loader_workers(device: torch.device | None) -> int:
    """DataLoader processes by default: none on the CPU, where worker processes would compete
    with the network's own threads for the same cores; up to 8 beside a GPU, which they feed."""
    if device is None or device.type != "cuda":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def make_optimizer(name: str, groups: list[dict], weight_decay: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9), Adam, AdamW or RMSprop over parameter groups with their own `lr`."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


def make_loss(config: TrainConfig, train_labels: Sequence[int], num_classes: int) -> nn.Module:
    """Cross-entropy with optional label smoothing and balanced class weights."""
    weight = None
    if config.class_weights:
        counts = np.bincount(np.asarray(train_labels), minlength=num_classes).astype(np.float64)
        weight = torch.as_tensor(len(train_labels) / (num_classes * np.maximum(counts, 1)), dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def maybe_resume(ctx: RunContext, trainer: Trainer) -> None:
    """With `--resume`, restore the trainer from the run's last completed epoch (if there is one).

    Every rank of a distributed run reads the same file: the run directory must be on storage
    they all see.
    """
    state_path = ctx.path("state.safetensors")
    if ctx.resume and state_path.is_file():
        trainer.state = load_training_state(state_path, trainer.model, trainer.optimizer)
        log.info("resumed after epoch %d", trainer.state["epoch"] + 1)


def standard_callbacks(ctx: RunContext, steps_per_epoch: int, earlier_rows: list[dict] | None = None) -> list:
    """Progress bar, metrics.csv, best checkpoint, resumable state, early stopping.

    Only the first process of a distributed run writes files and shows progress; every rank
    stops early on the same (all-reduced) metrics.
    """
    if not current_world().is_main:
        return [EarlyStopping(ctx.config.patience)]
    return [
        ProgressBar(steps_per_epoch, enabled=ctx.progress),
        CSVLogger(ctx.path("metrics.csv"), earlier_rows),
        BestCheckpoint(ctx.path("best.safetensors")),
        EarlyStopping(ctx.config.patience),
        ResumableState(ctx.path("state.safetensors")),  # last: saves what the others decided
    ]
