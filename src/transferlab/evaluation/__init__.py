"""Evaluation as data: metrics from predictions, confusion matrix, top losses, training curves."""

from .curves import ema, phase_changes, read_metrics_csv
from .metrics import EvaluationResult, evaluate_predictions, top_losses

__all__ = [
    "EvaluationResult",
    "ema",
    "evaluate_predictions",
    "phase_changes",
    "read_metrics_csv",
    "top_losses",
]
