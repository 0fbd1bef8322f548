"""What every strategy shares: the run context, the backbone and preprocessing, callbacks and resume."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..backbones import Backbone, BackboneChoice, Preprocessing
from ..config import TrainConfig
from ..data import DataSplits
from ..data.decode import decode_images
from ..engine.callbacks import Ahead, BestCheckpoint, CSVLogger, Deadline, EarlyStopping, ProgressBar, ResumableState
from ..engine.checkpoint import load_training_state
from ..engine.distributed import current_world
from ..engine.trainer import Trainer
from ..features import ExtractionOptions
from ..models.classifier import Classifier
from ..paths import RunDir

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
    # on `now`'s clock: no epoch starts that would end after it (auto's budget; one process only)
    deadline: float | None = None
    ahead: Ahead | None = None  # a later deadline the run earns by its validation accuracy (auto's trial)

    @property
    def files(self) -> RunDir:
        """The run directory's files."""
        return RunDir(self.out)

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
    tta: str | None = None  # test-time views the strategy chose (auto); None: the config's


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


def maybe_resume(ctx: RunContext, trainer: Trainer) -> None:
    """With `--resume`, restore the trainer from the run's last completed epoch (if there is one).

    Every rank of a distributed run reads the same file: the run directory must be on storage
    they all see.
    """
    state_path = ctx.files.state
    if ctx.resume and state_path.is_file():
        trainer.state = load_training_state(state_path, trainer.model, trainer.optimizer)
        log.info("resumed after epoch %d", trainer.state["epoch"] + 1)


def standard_callbacks(ctx: RunContext, steps_per_epoch: int, earlier_rows: list[dict] | None = None) -> list:
    """Progress bar, metrics.csv, best checkpoint, resumable state, early stopping, and the
    context's deadline.

    Only the first process of a distributed run writes files and shows progress; every rank
    stops early on the same (all-reduced) metrics. A deadline applies to one process only: ranks
    timing their own epochs could stop apart.
    """
    world = current_world()
    if not world.is_main:
        return [EarlyStopping(ctx.config.patience)]
    deadline = [] if ctx.deadline is None or world.active else [Deadline(ctx.deadline, ctx.now, ctx.ahead)]
    return [
        ProgressBar(steps_per_epoch, enabled=ctx.progress),
        CSVLogger(ctx.files.metrics, earlier_rows),
        BestCheckpoint(ctx.files.best),
        EarlyStopping(ctx.config.patience),
        *deadline,
        ResumableState(ctx.files.state),  # last: saves what the others decided
    ]
