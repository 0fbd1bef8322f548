"""Run a classifier over image files: class probabilities, unreadable files skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..backbones import Preprocessing
from ..data.decode import decode_images
from ..data.scan import Skipped
from ..data.transforms import eval_transform
from ..engine.device import autocast, pick_device, to_device


@torch.inference_mode()
def predict_paths(
    model: nn.Module,
    paths: list[str] | tuple[str, ...],
    preprocessing: Preprocessing,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
) -> tuple[np.ndarray, tuple[str, ...], list[Skipped]]:
    """Softmax probabilities (N, K) for the readable images among `paths`, and what was skipped."""
    decoded, skipped = decode_images(paths, preprocessing.resize_size, preprocessing.interpolation, progress=progress)
    transform = eval_transform(preprocessing)
    target = pick_device(device)
    model.eval().to(target).to(memory_format=torch.channels_last)
    probs = []
    for first in tqdm(range(0, len(decoded.images), batch_size), desc="predict", disable=not progress):
        batch = torch.stack([transform(img) for img in decoded.images[first : first + batch_size]])
        with autocast(target):
            logits = model(to_device(batch, target)).float()
        probs.append(logits.softmax(1).cpu().numpy())
    out = np.concatenate(probs) if probs else np.zeros((0, 0), dtype=np.float32)
    return out, decoded.paths, skipped


def top_k_predictions(
    probs: np.ndarray, paths: Sequence[str], class_names: Sequence[str], k: int
) -> list[dict[str, Any]]:
    """Per image: `image` and its `predictions`, the `k` most probable classes with rank/index/label/probability."""
    results = []
    for path, row in zip(paths, probs):
        order = np.argsort(-row, kind="stable")[: min(k, len(row))]
        predictions = [
            {"rank": rank + 1, "index": int(i), "label": class_names[int(i)], "probability": float(row[i])}
            for rank, i in enumerate(order)
        ]
        results.append({"image": str(path), "predictions": predictions})
    return results
