"""Every image of every split in one place, with its features embedded for comparison."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_ORDER = ("train", "val", "test")  # a pair's kept copy is the one in the earliest split


@dataclass(frozen=True)
class Pool:
    """The images of all splits, row-aligned with their features.

    Attributes:
        paths: image paths.
        splits: the split of each image ("train", "val", "test").
        labels: class index of each image, (N,) int64.
        classes: class names.
        features: pooled backbone features, (N, C) float32.
    """

    paths: tuple[str, ...]
    splits: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def centre(self) -> np.ndarray:
        """The mean feature, (C,): subtracted before comparing, so that similarity measures what
        sets images apart rather than what every image shares."""
        return self.features.mean(axis=0)

    def embedded(self) -> np.ndarray:
        """Features centred on the pool's mean and scaled to unit length, (N, C)."""
        return embed(self.features, self.centre)

    def label_names(self, rows) -> tuple[str, ...]:
        return tuple(self.classes[int(self.labels[i])] for i in rows)

    def split_names(self, rows) -> tuple[str, ...]:
        return tuple(self.splits[i] for i in rows)


def embed(features: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """`features` minus `centre`, each row scaled to unit L2 norm (zero rows stay zero)."""
    centred = np.asarray(features, dtype=np.float32) - centre.astype(np.float32)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12)


def keep_order(pool: Pool, row: int) -> tuple[int, str]:
    """Sort key of the copy to keep: train before val before test, then by path."""
    split = pool.splits[row]
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), pool.paths[row])


def kept_first(pool: Pool, a: int, b: int) -> tuple[int, int]:
    """The pair ordered by `keep_order`: the first is the one to keep."""
    return (a, b) if keep_order(pool, a) <= keep_order(pool, b) else (b, a)
