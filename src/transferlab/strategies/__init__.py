"""Transfer-learning strategies (linear, features, finetune, scratch) and the `train` entry point."""

from .artifacts import LoadedModel, load_model
from .run import STRATEGY_RUNNERS, TrainResult, train

__all__ = ["STRATEGY_RUNNERS", "LoadedModel", "TrainResult", "load_model", "train"]
