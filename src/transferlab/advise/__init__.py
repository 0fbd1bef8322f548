"""Dataset measurements and the strategy decision: `advise`, the depth sweep, budgets."""

from .advice import Advice, Plan
from .budget import format_seconds, parse_budget
from .core import AdviseOptions, advise, probe_depths
from .multitap import cached_layer_features, extract_layers
from .sweep import SweepResult, SweepRow, depth_sweep, sweep_layers

__all__ = [
    "Advice",
    "AdviseOptions",
    "Plan",
    "SweepResult",
    "SweepRow",
    "advise",
    "cached_layer_features",
    "depth_sweep",
    "extract_layers",
    "format_seconds",
    "parse_budget",
    "probe_depths",
    "sweep_layers",
]
