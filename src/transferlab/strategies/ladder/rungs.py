"""The notes' ladder of results as data: each rung is a strategy with its own settings.

The notes (dogs vs cats, 2,000 training photos, VGG16) climb from a CNN trained from scratch
(about 70 %) to fine-tuning the last block (about 97 %). `RUNGS` lists those steps, plus
`linear` (a logistic regression on the frozen base) and `auto`, with the settings that make
each rung a fair example of its idea: the scratch rungs train Chollet's small CNN at 150 px,
the transfer rungs use the chosen backbone at its own input size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from PIL import Image

from ...config import TrainConfig
from ...data import DataSplits
from ...errors import TransferlabError, unknown_name
from ...models.lookup import build_named_model

KAGGLE_WINNER = 0.98914  # Pierre Sermanet, Kaggle Dogs vs. Cats (2014), trained on 25,000 photos
NOTES_SETUP = "VGG16 / Chollet's small CNN, 2,000 training photos of dogs and cats"
SCRATCH_SIDE_SAMPLE = 64  # training images whose size decides the scratch rungs' input side


@dataclass(frozen=True)
class Rung:
    """One step of the ladder.

    Attributes:
        name: rung name (`scratch-aug`).
        strategy: the `TrainConfig.strategy` it trains with.
        what: one line: what the rung does.
        notes_accuracy: validation accuracy the notes report for it (None: not in the notes).
        settings: `TrainConfig` fields the rung sets, as (name, value) pairs.
        scales: the field a budget or an epochs scale reduces (`epochs`, `views`), None, or
            `budget` (a ladder budget passes the rung its share; `auto` fits its plan to it).
        scratch_model: which `LadderOptions` field names its network (scratch rungs only).
    """

    name: str
    strategy: str
    what: str
    notes_accuracy: float | None
    settings: tuple[tuple[str, object], ...] = ()
    scales: str | None = None
    scratch_model: str | None = None

    @property
    def overrides(self) -> dict:
        return dict(self.settings)


RUNGS = (
    Rung("scratch", "scratch", "small CNN from random weights, no augmentation", 0.70,
         (("augment", "none"), ("epochs", 30), ("lr", 1e-3)), "epochs", "scratch_model"),
    Rung("scratch-aug", "scratch", "the same CNN with dropout 0.5 and data augmentation", 0.82,
         (("augment", "medium"), ("epochs", 60), ("lr", 1e-3), ("patience", 15)), "epochs", "scratch_aug_model"),
    Rung("linear", "linear", "frozen ImageNet base, features cached, logistic regression", None),
    Rung("features", "features", "frozen base, dense head (256 + dropout 0.5) on cached features", 0.90,
         (("epochs", 40),), "epochs"),
    Rung("features-aug", "features-aug", "frozen base on augmented views, dense head", 0.96,
         (("views", 5), ("augment", "medium")), "views"),
    Rung("finetune", "finetune", "head on the frozen base, then the last 2 blocks unfrozen", 0.97,
         (("epochs", 6), ("unfreeze", 2), ("augment", "light")), "epochs"),
    Rung("auto", "auto", "the strategy transferlab chooses for this dataset", None, (), "budget"),
)
RUNG_NAMES = tuple(r.name for r in RUNGS)
# Options every rung shares (data, validation set, transfer base): a resumed ladder must keep them.
# Scratch options may change (a rung that failed for them is planned afresh); the table shows them.
IDENTITY = ("data", "backbone", "weights", "input_size", "val_fraction", "seed")


@dataclass(frozen=True)
class LadderOptions:
    """What the whole ladder shares; each rung adds its own settings (see `RUNGS`).

    Attributes:
        data: image folder, CSV or built-in dataset name.
        backbone: backbone of the transfer rungs.
        weights: their weights (`imagenet`, `none` or a file).
        input_size: input side of the transfer rungs (default: the backbone's).
        scratch_model: network of the `scratch` rung (a recipe or a spec).
        scratch_aug_model: network of the `scratch-aug` rung.
        scratch_size: input side of the scratch rungs (default: the recipe's 150 px, or the
            images' median shorter side when smaller, at least what the network accepts).
        epochs_scale: multiplies every rung's epochs (or views).
        budget_seconds: wall time for the rungs still to run; epochs shrink to fit it.
        batch_size, val_fraction, seed, device: as in `TrainConfig`.
        workers: DataLoader processes (None: `TrainConfig`'s default).
    """

    data: str
    # Fields shared with a training run take `TrainConfig`'s defaults (its class attributes).
    backbone: str = TrainConfig.backbone
    weights: str = TrainConfig.weights
    input_size: int | None = TrainConfig.input_size
    scratch_model: str = "cats-dogs-small"
    scratch_aug_model: str = "cats-dogs-small-dropout"
    scratch_size: int | None = None
    epochs_scale: float = 1.0
    budget_seconds: float | None = None
    batch_size: int = TrainConfig.batch_size
    val_fraction: float = TrainConfig.val_fraction
    seed: int = TrainConfig.seed
    device: str = TrainConfig.device
    workers: int | None = TrainConfig.workers

    def __post_init__(self) -> None:
        if self.epochs_scale <= 0:
            raise TransferlabError(f"epochs scale must be positive, not {self.epochs_scale}")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise TransferlabError(f"budget must be positive, not {self.budget_seconds} s")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def select_rungs(names: str | list[str] | tuple[str, ...] | None) -> tuple[Rung, ...]:
    """Rungs by name, in ladder order; None or empty: all of them.

    Raises:
        UnknownNameError: a name that is no rung (the closest are listed).
    """
    if names is None:
        return RUNGS
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not wanted:
        return RUNGS
    for name in wanted:
        if name not in RUNG_NAMES:
            raise unknown_name("rung", name, RUNG_NAMES)
    return tuple(r for r in RUNGS if r.name in wanted)


def rung_config(rung: Rung, options: LadderOptions, scratch_side: int | None = None) -> TrainConfig:
    """The rung's full (unscaled) training configuration.

    Args:
        rung: the rung.
        options: the ladder's shared options.
        scratch_side: input side of the scratch rungs (see `scratch_input_size`).
    """
    common = {"data": options.data, "strategy": rung.strategy, "backbone": options.backbone,
              "weights": options.weights, "input_size": options.input_size, "batch_size": options.batch_size,
              "val_fraction": options.val_fraction, "seed": options.seed, "device": options.device}
    if options.workers is not None:
        common["workers"] = options.workers
    if rung.scratch_model:
        common |= {"model": getattr(options, rung.scratch_model), "weights": "none",
                   "input_size": scratch_side or options.scratch_size}
    return TrainConfig(**{**common, **rung.overrides})


def scratch_input_size(model: str, splits: DataSplits, requested: int | None = None) -> int:
    """Input side for a scratch network on this data.

    The recipe's own side (150 px for the notes' dogs-vs-cats CNN) unless the training images
    are smaller: upsampling 8-pixel digits to 150 px teaches a CNN nothing and costs 300 times
    the compute. Never below the smallest side the network accepts.
    """
    if requested:
        return requested
    with torch.device("meta"):  # shapes only: nothing allocated or initialised
        native = build_named_model(model, num_classes=2).input_size
        for candidate in range(min(native, _median_short_side(splits)), native + 1):
            try:
                build_named_model(model, num_classes=2, input_size=candidate)
            except TransferlabError:
                continue
            return candidate
    return native


def _median_short_side(splits: DataSplits) -> int:
    paths = splits.train.paths
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(paths), size=min(len(paths), SCRATCH_SIDE_SAMPLE), replace=False)
    sides = []
    for index in chosen:
        try:
            with Image.open(paths[index]) as image:  # reads the header only
                sides.append(min(image.size))
        except OSError:
            continue  # unreadable files are reported by the training run itself
    return int(np.median(sides)) if sides else 10**6
