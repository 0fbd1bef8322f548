"""The notes' ladder: scratch CNN -> augmentation -> feature extraction -> fine-tuning, on any dataset.

`run_ladder(LadderOptions(data=...), out)` trains every rung of `RUNGS` into `out/<rung>/` and
writes `ladder.json`, `ladder.md` and `ladder.png` comparing them.
"""

from .plan import Plan, PlannedRung, plan_ladder
from .report import RungResult
from .rungs import KAGGLE_WINNER, RUNG_NAMES, RUNGS, LadderOptions, Rung, rung_config, select_rungs
from .runner import LadderResult, run_ladder

__all__ = [
    "KAGGLE_WINNER",
    "RUNGS",
    "RUNG_NAMES",
    "LadderOptions",
    "LadderResult",
    "Plan",
    "PlannedRung",
    "Rung",
    "RungResult",
    "plan_ladder",
    "rung_config",
    "run_ladder",
    "select_rungs",
]
