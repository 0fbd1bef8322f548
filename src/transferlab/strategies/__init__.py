"""Transfer-learning strategies (linear, features, finetune, scratch) and the `train` entry point."""

from .registry import STRATEGIES, Strategy
from .run import STRATEGY_RUNNERS, TrainResult, train

__all__ = ["STRATEGIES", "STRATEGY_RUNNERS", "Strategy", "TrainResult", "train"]
