"""Seeding torch's global generators for one block of work, and only for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Inside the block torch's global CPU generator (and `device`'s, if CUDA) start from `seed`;
    after it they are as they were.

    For what draws from the global generators and takes no `generator=`: module initialisation,
    dropout, torchvision's random transforms, the seeds of DataLoader workers.
    """
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for cuda in devices:
            with torch.cuda.device(cuda):
                torch.cuda.manual_seed(seed)
        yield
