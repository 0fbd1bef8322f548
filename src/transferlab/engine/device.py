"""Device choice and the CUDA niceties (bf16 autocast, channels_last) when a GPU is present."""

from __future__ import annotations

import contextlib

import torch


def pick_device(name: str = "auto") -> torch.device:
    """`auto` -> CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a batch to `device`; image batches go channels_last (faster convs on CPU and GPU)."""
    batch = batch.to(device, non_blocking=True)
    return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch
