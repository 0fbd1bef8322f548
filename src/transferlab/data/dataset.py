"""A torch Dataset over decoded images with a per-item transform."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset


class DecodedDataset(Dataset):
    """(image, label) pairs from decoded uint8 tensors, transformed on access."""

    def __init__(self, images: Sequence[torch.Tensor], labels: Sequence[int], transform: Callable):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = list(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), self.labels[index]
