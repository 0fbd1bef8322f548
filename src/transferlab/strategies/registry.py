"""The strategies that train a classifier themselves, by name (`auto` picks one of these)."""

from __future__ import annotations

from .features_aug import run_features_aug
from .finetune import run_finetune
from .linear import run_features, run_linear
from .scratch import run_scratch

FIXED_RUNNERS = {"linear": run_linear, "features": run_features, "features-aug": run_features_aug,
                 "finetune": run_finetune, "scratch": run_scratch}
