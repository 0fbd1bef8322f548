"""A network's identity for caches: a digest of every parameter and buffer."""

from __future__ import annotations

import hashlib

import torch


def parameter_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer: random or fine-tuned weights never share entries."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
