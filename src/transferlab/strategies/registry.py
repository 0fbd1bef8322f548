"""The strategies by name: what each does, the settings that shape it, what the report says of it.

`STRATEGIES` describes every strategy (the report reads it); `FIXED_RUNNERS` maps those that
train a classifier themselves to the function that does (`auto` picks one of these, and
`run` adds `auto`). `config.STRATEGIES` keeps the bare names, for validation at the lowest
tier; tests/strategies/test_registry.py keeps the three the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from .features_aug import run_features_aug
from .finetune import run_finetune
from .linear import run_features, run_linear
from .scratch import run_scratch

TRAINING_SETTINGS = ("epochs", "lr", "optimizer", "schedule", "weight_decay", "label_smoothing", "class_weights")


@dataclass(frozen=True)
class Strategy:
    """One strategy.

    Attributes:
        name: as `--strategy` takes it.
        frozen_base: the pretrained base keeps its weights (its cached features stay valid).
        settings: the config fields that shape it, which its report lists (after the common ones).
        why: what it does and when the course notes advise it (the report's paragraph); None for
            `auto`, whose report describes the strategy it chose.
        trained: what the report's model section says was trained; None: it depends on the run.
    """

    name: str
    frozen_base: bool
    settings: tuple[str, ...]
    why: str | None
    trained: str | None = None


# The `why`s follow the course notes' guide (small/large data x similar/different to ImageNet).
_ALL = (
    Strategy(
        "linear", frozen_base=True, settings=("probe",),
        why="The pretrained convolutional base is a fixed feature extractor: every image goes through "
        "it once (features cached on disk) and a linear classifier (logistic regression or linear SVM) is "
        "fitted on the pooled features, its regularisation C chosen on the validation set. The notes "
        "advise this for a small dataset similar to ImageNet (features from the end of the base) and, "
        "with features from an earlier layer, for a small dataset unlike ImageNet: with few images, "
        "training the base itself would overfit.",
        trained="the linear classifier only; the base keeps its weights (frozen)"),
    Strategy(
        "features", frozen_base=True, settings=TRAINING_SETTINGS + ("hidden", "dropout", "patience"),
        why="The frozen pretrained base extracts features once (cached); a dense head (hidden layer, ReLU, "
        "dropout) is trained on them in PyTorch, so each epoch takes milliseconds. As the linear probe, "
        "for small datasets, when a non-linear head can do better than a linear one.",
        trained="the head only; the base keeps its weights (frozen)"),
    Strategy(
        "features-aug", frozen_base=True, settings=TRAINING_SETTINGS + ("hidden", "dropout", "views", "augment"),
        why="As 'features', but each training image is augmented several times and every view goes through "
        "the frozen base once: the head sees augmented data without running the base every epoch. "
        "Augmentation enlarges a small dataset artificially (flips, zooms, crops, colour).",
        trained="the head only; the base keeps its weights (frozen)"),
    Strategy(
        "finetune", frozen_base=False,
        settings=("head_epochs",) + TRAINING_SETTINGS + ("unfreeze", "unfreeze_from", "lr_mult", "bn_policy",
                                                        "augment", "mixup", "cutmix"),
        why="Phase 1 trains a new head on the frozen base (from cached features); phase 2 unfreezes the last "
        "groups of the base and retrains them with the head, shallower groups at lower learning rates, "
        "with augmentation. The notes advise fine-tuning when the dataset is larger and similar to "
        "ImageNet: with more data, retraining the top of the base is unlikely to overfit."),
    Strategy(
        "scratch", frozen_base=False,
        settings=("model",) + TRAINING_SETTINGS + ("augment", "mixup", "cutmix", "l1", "max_norm", "dropout"),
        why="Every weight starts random and the whole network is trained on this data. The notes keep this "
        "for a large dataset very different from ImageNet (and small networks, as their CNN recipes).",
        trained="every layer, from random weights"),
    Strategy("auto", frozen_base=False, settings=(), why=None),
)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in _ALL}
FROZEN_BASE = tuple(s.name for s in _ALL if s.frozen_base)

FIXED_RUNNERS = {"linear": run_linear, "features": run_features, "features-aug": run_features_aug,
                 "finetune": run_finetune, "scratch": run_scratch}
