"""Run configuration as frozen dataclasses, saved as YAML in every run directory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from .errors import TransferlabError

STRATEGIES = ("linear", "features", "features-aug", "finetune", "scratch", "auto")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
NORMALISATIONS = ("backbone", "0-1", "dataset")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. `None` means: the strategy's default.

    Attributes mirror `transferlab train` flags; see `transferlab train --help`.
    """

    data: str
    strategy: str = "auto"  # measure the data (as `transferlab advise`), then run the plan
    backbone: str = "efficientnet_lite0"
    # auto: compare the backbones at hand and keep the best (None: only when `backbone` is the
    # default with ImageNet weights at their own input size; `--backbone` given: False)
    compare_backbones: bool | None = None
    weights: str = "imagenet"
    model: str | None = None  # scratch: a spec string or recipe name
    input_size: int | None = None
    layer: str | None = None
    # optimisation
    epochs: int | None = None
    # finetune and scratch: each epoch trains on this many training images, drawn afresh from a
    # new permutation (None: all); `auto` sets it to spend a budget that fits a part of an epoch
    epoch_images: int | None = None
    head_epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "adamw"
    schedule: str = "cosine"
    weight_decay: float | None = None
    label_smoothing: float = 0.0
    class_weights: bool = False
    l1: float = 0.0
    max_norm: float | None = None
    dropout: float = 0.5
    hidden: int = 256
    patience: int = 5
    # linear probe
    probe: str = "logistic"
    # features-aug: augmented views of each training image cached through the frozen base; 2
    # gave all of the measured gain of 5 at less than half the cost (bench/features_aug.py)
    views: int = 2
    # fine-tuning
    unfreeze: int = 2
    unfreeze_from: str | None = None
    lr_mult: float | None = None  # None: finetune's own (`strategies.finetune.default_rates`)
    bn_policy: str = "frozen"
    # run the frozen prefix once per image and view when only the top is unfrozen
    # (strategies.finetune_prefix); False: the whole network every epoch
    frozen_prefix: bool = True
    # finetune: the learning-rate range test (engine.lr_find) before phase 2 sets the rates
    lr_find: bool = False
    # data
    normalisation: str = "backbone"
    augment: str | None = None  # preset, YAML file or inline list (data.augment); None: strategy's
    # batch-level augmentation of finetune and scratch (data.mix): Beta alpha, 0 = off; both on:
    # one of the two per batch
    mixup: float = 0.0
    cutmix: float = 0.0
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    workers: int | None = None  # DataLoader processes; None: 0 on the CPU, up to 8 with CUDA
    # speed of feature extraction
    precision: str = "auto"  # auto: bf16 on CUDA, fp32 on the CPU; bf16: opt-in on the CPU
    compile: bool | None = None  # torch.compile; None: only for extractions large enough to pay
    engine: str = "auto"  # frozen forward passes: auto | torch | openvino (models.inference)
    # test-time views the run's val/test scores and the saved model's predictions average over:
    # none | flip | crops (data.transforms.tta_views); None: the strategy's (auto measures it on its
    # trial's held-out fold; the others: none)
    tta: str | None = None
    # auto: seconds for advice + training (None: no limit); `transferlab train --budget 10m`
    budget: float | None = None

    def __post_init__(self) -> None:
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("normalisation", self.normalisation, NORMALISATIONS)
        _check_choice("probe", self.probe, ("logistic", "svm"))
        _check_choice("bn_policy", self.bn_policy, ("frozen", "train"))
        _check_choice("precision", self.precision, ("auto", "fp32", "bf16"))
        _check_choice("engine", self.engine, ("auto", "torch", "openvino"))
        if self.tta is not None:
            _check_choice("tta", self.tta, ("none", "flip", "crops"))
        if self.budget is not None and (self.strategy != "auto" or not self.budget > 0):
            raise TransferlabError(f"budget {self.budget} needs --strategy auto and a positive duration")
        if self.lr_find and (self.strategy != "finetune" or self.lr is not None):
            raise TransferlabError("lr_find needs --strategy finetune and no --lr: the range test chooses the rate")
        for name in ("mixup", "cutmix"):
            alpha = getattr(self, name)
            if not (isinstance(alpha, (int, float)) and 0.0 <= alpha < float("inf")):
                raise TransferlabError(f"{name} alpha must be a number >= 0 (0: off), not {alpha}")
        if self.views < 1:
            raise TransferlabError(f"views must be at least 1, not {self.views}")
        if not 0.0 < self.val_fraction < 1.0:
            raise TransferlabError(f"val_fraction must be between 0 and 1, not {self.val_fraction}")
        if not 0.0 <= self.dropout < 1.0:
            raise TransferlabError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.epoch_images is not None and self.epoch_images < self.batch_size:
            raise TransferlabError(f"epoch_images must be at least the batch size ({self.batch_size}), "
                                   f"not {self.epoch_images}")
        if self.batch_size < 1:
            raise TransferlabError(f"batch_size must be at least 1, not {self.batch_size}")

    def replace(self, **changes) -> "TrainConfig":
        """A copy with `changes` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        """Write as YAML (atomically)."""
        from .paths import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """Read a YAML file written by `save` (unknown keys are an error)."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TransferlabError(f"{path}: unknown config keys {unknown}")
        return cls(**data)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        from .errors import unknown_name

        raise unknown_name(name, value, choices)
