"""Batches for the trainer: in-memory tensors or decoded images, shuffled per epoch by a seed.

They live beside the trainer rather than in `data/` because a distributed run cuts every
global batch into per-rank shares (`GlobalBatches`), which takes the engine's `World`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from ..data import DecodedDataset
from .distributed import World


def tensor_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> Callable[[int], DataLoader]:
    """Epoch -> shuffled batches of in-memory tensors, the order fixed by `seed + epoch`."""
    dataset = TensorDataset(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long))

    def for_epoch(epoch: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + epoch)
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)

    return for_epoch


def eval_tensor_batches(x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> DataLoader:
    """Batches in order, for evaluation."""
    dataset = TensorDataset(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def image_batches(dataset: DecodedDataset, batch_size: int, seed: int, workers: int | None = 0,
                  shuffle: bool = True, device: torch.device | None = None,
                  world: World | None = None, per_epoch: int | None = None) -> Callable[[int], DataLoader]:
    """Epoch -> batches of `dataset` (transformed decoded images), shuffled by `seed + epoch`.

    `workers=None` picks a number for `device` (`loader_workers`); batches are pinned for CUDA.
    In a distributed `world`, `batch_size` is the global batch: each rank takes its share of
    every batch a single process would run, so the effective batch stays the same. `per_epoch`:
    each (shuffled) epoch takes that many items of its permutation (None: all).
    """
    cuda = device is not None and device.type == "cuda"
    workers = loader_workers(device) if workers is None else workers
    world = world or World()

    def for_epoch(epoch: int) -> DataLoader:
        sampler = GlobalBatches(len(dataset), batch_size, seed + epoch, shuffle, world, per_epoch)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=cuda)

    return for_epoch


class GlobalBatches(Sampler):
    """The batches of one epoch: a seeded permutation cut into global batches, each split by rank.

    Args:
        count: items in the dataset.
        batch_size: items per global batch (all ranks together).
        seed: seeds the permutation (the same on every rank).
        shuffle: permute (training, where a last partial batch is dropped) or keep the order.
        world: this rank takes items `rank, rank + size, ...` of every global batch.
        take: with `shuffle`, the epoch's first `take` items of the permutation alone (a fresh
            draw each epoch, as the seed changes); None: all.
    """

    def __init__(self, count: int, batch_size: int, seed: int, shuffle: bool, world: World, take: int | None = None):
        self.count, self.batch_size, self.seed, self.shuffle, self.world = count, batch_size, seed, shuffle, world
        used = min(count, take) if shuffle and take else count
        self.stop = used - used % batch_size if shuffle and used > batch_size else used

    def __iter__(self):
        order = (torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed)) if self.shuffle
                 else torch.arange(self.count))
        for first in range(0, self.stop, self.batch_size):
            share = order[first : first + self.batch_size][self.world.rank :: self.world.size]
            if len(share):
                yield share.tolist()

    def __len__(self) -> int:
        starts = range(0, self.stop, self.batch_size)
        return sum(1 for first in starts if min(self.batch_size, self.stop - first) > self.world.rank)


def loader_workers(device: torch.device | None) -> int:
    """DataLoader processes by default: none on the CPU, where worker processes would compete
    with the network's own threads for the same cores; up to 8 beside a GPU, which they feed."""
    if device is None or device.type != "cuda":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))
