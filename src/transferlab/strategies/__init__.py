"""Transfer-learning strategies (linear, features, finetune, scratch) and the `train` entry point."""

from .registry import STRATEGIES, Strategy, get_strategy
from .run import STRATEGY_RUNNERS, TrainResult, train

__all__ = ["STRATEGIES", "STRATEGY_RUNNERS", "Strategy", "TrainResult", "get_strategy", "train"]
