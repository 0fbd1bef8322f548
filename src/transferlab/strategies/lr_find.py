"""`lr-find`: the learning-rate range test on the network `finetune` would train in its phase 2.

The test starts where fine-tuning starts: the phase-1 head (a logistic regression fitted on
the frozen base's cached features, C chosen on validation), the same groups unfrozen with the
same discriminative ratios, the same augmentation, batches and optimiser. A fresh random head
would make the test measure how fast a random head learns, not the rate phase 2 can take.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..data import load_splits
from ..data.scan import recording_skips
from ..engine.device import pick_device
from ..engine.lr_find import RangeTestResult, StepHook
from ..engine.seeding import seeded
from .common import RunContext
from .endtoend import Phase, range_test_on_images
from .finetune import prepare_finetune

HEAD = "phase-1 logistic head on the frozen base's cached features (what finetune's phase 2 starts from)"


@dataclass(frozen=True)
class LRFindReport:
    """A range test on a dataset and what it suggests for `train --strategy finetune --lr`.

    Attributes:
        data: the dataset's name.
        result: the curve and the suggestion (rates are the head's).
        group_lrs: each parameter group's rate at the suggestion (head first, then deeper to shallower).
        head: where the head the test starts from came from.
        head_val_acc: the phase-1 head's validation accuracy.
        seconds: wall time of the range test alone (decoding and phase 1 not counted).
    """

    data: str
    result: RangeTestResult
    group_lrs: dict[str, float]
    head: str
    head_val_acc: float
    seconds: float

    def to_dict(self) -> dict:
        return {"data": self.data, **self.result.to_dict(), "group_lrs": self.group_lrs, "head": self.head,
                "head_val_acc": self.head_val_acc, "steps": len(self.result.rates), "seconds": self.seconds}


def find_lr(config: TrainConfig, out: Path, progress: bool = False, on_step: StepHook | None = None,
            rule: str = "min10") -> LRFindReport:
    """Run the range test for fine-tuning `config.data` as `config` describes it.

    Args:
        config: a finetune config (backbone, unfreeze, lr_mult, batch size, augmentation, seed...).
        out: the folder the test's outputs are meant for (the run context's; nothing is written here).
        progress: progress bars while decoding and extracting.
        on_step: called after every step with (step, rate, smoothed loss).
        rule: the suggestion: "min10" or "steepest" (see `engine.lr_find.RangeTestOptions`).
    """
    with recording_skips():  # one warning per unusable file, however often it is read
        splits = load_splits(config.data, config.val_fraction, config.seed)
        ctx = RunContext(config, out, splits, pick_device(config.device), progress)
        with seeded(config.seed, ctx.device):
            start = prepare_finetune(ctx)
            began = time.perf_counter()
            phase = Phase("lr-find", 1, config.augment or "light", config.bn_policy)
            result = range_test_on_images(ctx, start.classifier, start.param_groups, start.train, phase,
                                          on_step, rule)
    reference = max(g["lr"] for g in start.param_groups)
    group_lrs = {g["name"]: result.suggestion * g["lr"] / reference for g in start.param_groups}
    return LRFindReport(splits.name, result, group_lrs, HEAD, start.head_row["val_acc"],
                        round(time.perf_counter() - began, 2))
