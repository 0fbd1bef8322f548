"""Classification metrics from probabilities: accuracy, loss, per-class scores, top losses.

Everything here returns plain data (numbers, lists, dicts); drawing lives in `viz/render/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Probabilities are clipped before the log so a confident mistake costs -log(1e-7) ~= 16.1
# instead of infinity; 1e-7 is Keras' epsilon and sits above float32 resolution near 1.
_EPS = 1e-7
_SCORES = ("precision", "recall", "f1")


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one set of predictions.

    Attributes:
        accuracy: fraction of samples whose arg-max class is the true class.
        loss: mean cross-entropy of the true class, probabilities clipped to [1e-7, 1].
        per_class: class name -> {"precision", "recall", "f1", "support"}.
        macro: unweighted mean of precision, recall and f1 over the classes that occur in the
            labels (a class with no samples has no recall to average).
        confusion: counts, rows = true class, columns = predicted class, in `class_names` order.
        class_names: the class names, index i naming class i.
        num_samples: how many samples were evaluated.
        top_losses: the worst predictions (see `top_losses`), empty unless paths were given.
    """

    accuracy: float
    loss: float
    per_class: dict[str, dict[str, float]]
    macro: dict[str, float]
    confusion: list[list[int]]
    class_names: list[str]
    num_samples: int
    top_losses: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plain floats, ints, strings, lists) of every field."""
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class": {name: dict(scores) for name, scores in self.per_class.items()},
            "macro": dict(self.macro),
            "confusion": [list(row) for row in self.confusion],
            "class_names": list(self.class_names),
            "num_samples": self.num_samples,
            "top_losses": [dict(row) for row in self.top_losses],
        }


def evaluate_predictions(
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: list[str],
    paths: list[str] | None = None,
    top_k: int = 16,
) -> EvaluationResult:
    """Score predicted class probabilities against true labels.

    Args:
        labels: true class indices, shape (N,).
        probs: class probabilities, shape (N, C), rows summing to 1 (softmax outputs).
        class_names: C names, index i naming class i.
        paths: optional N file paths; when given, the `top_k` worst predictions are kept.
        top_k: how many worst predictions to keep when `paths` is given.

    Returns:
        The metrics. Classes absent from `labels` still get a row, a column and scores.

    Raises:
        ValueError: shapes or label values that do not match `class_names`.
    """
    from sklearn.metrics import confusion_matrix  # imported here: scikit-learn costs `predict` ~1.5 s

    labels, probs = _check_inputs(labels, probs, len(class_names), paths)
    predicted = probs.argmax(axis=1)
    per_class, macro = _per_class_scores(labels, predicted, class_names)
    classes = np.arange(len(class_names))
    confusion = confusion_matrix(labels, predicted, labels=classes)
    worst = top_losses(labels, probs, paths, top_k, class_names) if paths is not None else []
    return EvaluationResult(
        accuracy=float(np.mean(predicted == labels)),
        loss=float(np.mean(_sample_losses(labels, probs))),
        per_class=per_class,
        macro=macro,
        confusion=[[int(count) for count in row] for row in confusion],
        class_names=list(class_names),
        num_samples=int(labels.shape[0]),
        top_losses=worst,
    )


def top_losses(
    labels: np.ndarray,
    probs: np.ndarray,
    paths: list[str],
    k: int,
    class_names: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The `k` samples the model got most wrong, by cross-entropy of the true class.

    Args:
        labels: true class indices, shape (N,).
        probs: class probabilities, shape (N, C).
        paths: N file paths, one per sample.
        k: how many to return (fewer if N < k; none if k <= 0).
        class_names: optional names; when given, rows also carry `true_name`/`predicted_name`.

    Returns:
        Dicts with `path`, `true`, `predicted` (class indices), `prob_true`, `prob_predicted`
        and `loss`, sorted by loss descending; ties keep input order.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels, probs = _check_inputs(labels, probs, probs.shape[-1], paths)
    losses = _sample_losses(labels, probs)
    order = np.argsort(-losses, kind="stable")[: max(k, 0)]
    return [_loss_row(i, labels, probs, paths, losses, class_names) for i in order]


def _loss_row(
    i: int,
    labels: np.ndarray,
    probs: np.ndarray,
    paths: list[str],
    losses: np.ndarray,
    class_names: list[str] | None,
) -> dict[str, Any]:
    true, predicted = int(labels[i]), int(probs[i].argmax())
    row: dict[str, Any] = {
        "path": str(paths[i]),
        "true": true,
        "predicted": predicted,
        "prob_true": float(probs[i, true]),
        "prob_predicted": float(probs[i, predicted]),
        "loss": float(losses[i]),
    }
    if class_names is not None:
        row["true_name"] = class_names[true]
        row["predicted_name"] = class_names[predicted]
    return row


def _sample_losses(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy of the true class, shape (N,)."""
    p_true = probs[np.arange(labels.shape[0]), labels]
    return -np.log(np.clip(p_true, _EPS, 1.0))


def _per_class_scores(
    labels: np.ndarray, predicted: np.ndarray, class_names: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-class precision/recall/f1/support and their macro means over present classes."""
    from sklearn.metrics import precision_recall_fscore_support

    # labels=range(C) keeps one row per class even when a class never occurs; 0/0 scores are 0.
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=np.arange(len(class_names)), zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    present = support > 0
    macro = {
        key: float(np.mean(values[present]))
        for key, values in zip(_SCORES, (precision, recall, f1))
    }
    return per_class, macro


def _check_inputs(
    labels: np.ndarray, probs: np.ndarray, num_classes: int, paths: list[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and label range; return labels as int64 and probs as float64."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0] or labels.shape[0] == 0:
        raise ValueError(
            f"need probs of shape (N, C) with N = len(labels) >= 1; got labels {labels.shape}, "
            f"probs {probs.shape}"
        )
    if probs.shape[1] != num_classes:
        raise ValueError(f"probs has {probs.shape[1]} columns but there are {num_classes} classes")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}); got {labels.min()}..{labels.max()}"
        )
    if paths is not None and len(paths) != labels.shape[0]:
        raise ValueError(f"got {len(paths)} paths for {labels.shape[0]} samples")
    return labels, probs
