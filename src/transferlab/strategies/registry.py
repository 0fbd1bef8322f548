"""The strategies by name: what each is, what it records and what the report says of it.

`STRATEGIES` is the one description of every strategy; `FIXED_RUNNERS` maps the names of
those that train a classifier themselves to the function that does (`auto` picks one of
these, and `run` adds `auto`). `config.STRATEGIES` keeps the bare names, for validation at
the lowest tier; the test of this module keeps both lists the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import unknown_name
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
        description: one line: what it trains, on what.
        frozen_base: the pretrained base keeps its weights (its cached features stay valid).
        settings: the config fields that shape it, which its report lists (after the common ones).
        why: the report's paragraph on how it works and when the course notes advise it; None
            for `auto`, whose report describes the strategy it chose.
        trained: what the report's model section says was trained; None: it depends on the run.
    """

    name: str
    description: str
    frozen_base: bool
    settings: tuple[str, ...]
    why: str | None
    trained: str | None = None


# The `why`s follow the course notes' guide (small/large data x similar/different to ImageNet).
_ALL = (
    Strategy(
        "linear", "a linear classifier on the cached features of the frozen base", True, ("probe",),
        "The pretrained convolutional base is a fixed feature extractor: every image goes through "
        "it once (features cached on disk) and a linear classifier (logistic regression or linear SVM) is "
        "fitted on the pooled features, its regularisation C chosen on the validation set. The notes "
        "advise this for a small dataset similar to ImageNet (features from the end of the base) and, "
        "with features from an earlier layer, for a small dataset unlike ImageNet: with few images, "
        "training the base itself would overfit.",
        "the linear classifier only; the base keeps its weights (frozen)"),
    Strategy(
        "features", "a dense head on the cached features of the frozen base", True,
        TRAINING_SETTINGS + ("hidden", "dropout", "patience"),
        "The frozen pretrained base extracts features once (cached); a dense head (hidden layer, ReLU, "
        "dropout) is trained on them in PyTorch, so each epoch takes milliseconds. As the linear probe, "
        "for small datasets, when a non-linear head can do better than a linear one.",
        "the head only; the base keeps its weights (frozen)"),
    Strategy(
        "features-aug", "a dense head on cached features of augmented views through the frozen base", True,
        TRAINING_SETTINGS + ("hidden", "dropout", "views", "augment"),
        "As 'features', but each training image is augmented several times and every view goes through "
        "the frozen base once: the head sees augmented data without running the base every epoch. "
        "Augmentation enlarges a small dataset artificially (flips, zooms, crops, colour).",
        "the head only; the base keeps its weights (frozen)"),
    Strategy(
        "finetune", "a head on the frozen base, then the last groups of the base unfrozen and retrained", False,
        ("head_epochs",) + TRAINING_SETTINGS + ("unfreeze", "unfreeze_from", "lr_mult", "bn_policy", "augment"),
        "Phase 1 trains a new head on the frozen base (from cached features); phase 2 unfreezes the last "
        "groups of the base and retrains them with the head, shallower groups at lower learning rates, "
        "with augmentation. The notes advise fine-tuning when the dataset is larger and similar to "
        "ImageNet: with more data, retraining the top of the base is unlikely to overfit."),
    Strategy(
        "scratch", "a network trained from random weights (a recipe, a spec or a backbone)", False,
        ("model",) + TRAINING_SETTINGS + ("augment", "l1", "max_norm", "dropout"),
        "Every weight starts random and the whole network is trained on this data. The notes keep this "
        "for a large dataset very different from ImageNet (and small networks, as their CNN recipes).",
        "every layer, from random weights"),
    Strategy(
        "auto", "measure the data, then run the strategy the measurements recommend", False, (), None),
)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in _ALL}
FROZEN_BASE = tuple(s.name for s in _ALL if s.frozen_base)

FIXED_RUNNERS = {"linear": run_linear, "features": run_features, "features-aug": run_features_aug,
                 "finetune": run_finetune, "scratch": run_scratch}


def get_strategy(name: str) -> Strategy:
    """The strategy called `name`; an unknown name lists the closest ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise unknown_name("strategy", name, tuple(STRATEGIES)) from None
