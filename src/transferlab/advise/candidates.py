"""Cheap candidates compared by cross-validation on the training split.

All candidates are frozen-base heads on cached features at the same layer, scored on the same
folds as the depth sweep (so differences are paired): the linear probe (its score comes from
the sweep), the dense head of `features`, and `features-aug` (the dense head trained on the
clean features plus K augmented views, scored on clean held-out images).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..engine.schedule import lr_multiplier
from ..engine.seeding import seeded
from ..models.heads import Head
from ..data.scan import stratified_subsample
from .sweep import SweepResult, cv_folds

log = logging.getLogger(__name__)

HEAD_LR, HEAD_WEIGHT_DECAY, HEAD_BATCH = 1e-3, 1e-4, 64  # as `strategies.linear.train_head`


@dataclass(frozen=True)
class Candidate:
    """One way to train, its settings, its CV score (None: not cross-validated) and cost."""

    strategy: str
    settings: dict
    cv_mean: float | None
    cv_se: float | None
    fold_scores: tuple[float, ...]
    estimated_seconds: float
    status: str = "compared"  # compared | chosen | trial | skipped: <why>
    reserve_seconds: float = 0.0  # a trial: what must be left when it ends (the frozen fallback, or scoring its model)
    reserve_ahead_seconds: float | None = None  # a trial: what must be left once it leads the frozen pick (None: reserve_seconds)

    def to_dict(self) -> dict:
        return asdict(self)


def features_aug_epochs(views: int) -> int:
    """The `features-aug` strategy's default epochs for `views` views."""
    return max(8, 40 // (views + 1))


def cv_dense_head(features: np.ndarray, labels: np.ndarray, seed: int, hidden: int, dropout: float, epochs: int,
                  views: Sequence[np.ndarray] = (), max_samples: int | None = None) -> tuple[float, ...]:
    """Held-out accuracy per fold of a `Head` trained as the strategies train it.

    Args:
        features: (N, C) clean features of the training split.
        labels: (N,) labels.
        views: (N, C) features of augmented views of the same images, added to each fold's
            training part only (held-out images are always clean).
        max_samples: the sweep's subsample size, so folds match the sweep's.
    """
    from .sweep import MAX_CV_SAMPLES

    keep = stratified_subsample(labels, max_samples or MAX_CV_SAMPLES, seed)
    x, y = features[keep], labels[keep]
    extra = [v[keep] for v in views]
    scores = []
    for fold, (train, held) in enumerate(cv_folds(y, seed)):
        train_x = np.concatenate([x[train], *(v[train] for v in extra)])
        train_y = np.concatenate([y[train]] * (1 + len(extra)))
        head = _fit_head(train_x, train_y, int(labels.max()) + 1, hidden, dropout, epochs, seed + fold)
        scores.append(_accuracy(head, x[held], y[held]))
    return tuple(scores)


def paired_se(scores: Sequence[float], baseline: Sequence[float]) -> float:
    """Standard error of the mean paired difference between two sets of fold scores."""
    diff = np.asarray(scores) - np.asarray(baseline)
    return float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0


def linear_candidate(sweep: SweepResult, layer: str | None, seconds: float) -> Candidate:
    """The linear probe at `layer`, scored by the sweep itself."""
    row = next(r for r in sweep.rows if r.layer == layer)
    se = float(np.std(row.fold_scores, ddof=1) / np.sqrt(len(row.fold_scores))) if len(row.fold_scores) > 1 else None
    return Candidate("linear", {"layer": layer}, row.cv_mean, se, row.fold_scores, seconds)


def _fit_head(x: np.ndarray, y: np.ndarray, num_classes: int, hidden: int, dropout: float, epochs: int,
              seed: int) -> Head:
    with seeded(seed):  # the head's initialisation and its dropout draw from the global generator
        return _trained_head(x, y, Head(x.shape[1], num_classes, hidden, dropout), epochs, seed)


def _trained_head(x: np.ndarray, y: np.ndarray, head: Head, epochs: int, seed: int) -> Head:
    optimizer = torch.optim.AdamW(head.parameters(), lr=HEAD_LR, weight_decay=HEAD_WEIGHT_DECAY)
    steps = int(np.ceil(len(y) / HEAD_BATCH))
    schedule = lr_multiplier("cosine", epochs * steps, warmup_steps=steps)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    loss_fn, generator, step = nn.CrossEntropyLoss(), torch.Generator().manual_seed(seed), 0
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=generator)
        for first in range(0, len(yt), HEAD_BATCH):
            batch = order[first : first + HEAD_BATCH]
            for group in optimizer.param_groups:
                group["lr"] = HEAD_LR * schedule(step)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(head(xt[batch]), yt[batch]).backward()
            optimizer.step()
            step += 1
    return head.eval()


@torch.no_grad()
def _accuracy(head: Head, x: np.ndarray, y: np.ndarray) -> float:
    predictions = head(torch.as_tensor(x, dtype=torch.float32)).argmax(1).numpy()
    return float((predictions == y).mean())
