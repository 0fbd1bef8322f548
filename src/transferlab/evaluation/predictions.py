"""Run a classifier over image files: class probabilities, unreadable files skipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..backbones import Preprocessing
from ..data.decode import decode_images
from ..data.scan import Skipped
from ..data.transforms import tta_views
from ..engine.device import autocast, pick_device, to_device
from ..models.inference import frozen_forward
from ..models.fold import fold_batch_norm, probe_input


DECODE_CHUNK = 1024  # images decoded at once: memory stays flat however many are predicted


# no_grad, not inference_mode: the model is moved in place, and parameters converted inside
# inference mode could never be trained again (see features/extract.py).
@torch.no_grad()
def predict_paths(
    model: nn.Module,
    paths: list[str] | tuple[str, ...],
    preprocessing: Preprocessing,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
    engine: str = "auto",
    tta: str = "none",
) -> tuple[np.ndarray, tuple[str, ...], list[Skipped]]:
    """Softmax probabilities (N, K) for the readable images among `paths`, and what was skipped.

    Images are decoded `DECODE_CHUNK` at a time, so memory does not grow with `len(paths)`.
    `engine` runs the forward pass ("auto", "torch", "openvino": `models.inference.frozen_forward`);
    `tta` averages the probabilities over test-time views ("none", "flip", "crops": `tta_views`).
    """
    predict = _predictor(model, preprocessing, device, engine, len(paths), batch_size, tta)
    probs, kept, skipped = [], [], []
    bar = tqdm(total=len(paths), desc="predict", unit="img", disable=not progress)
    for start in range(0, len(paths), DECODE_CHUNK):
        decoded, bad = decode_images(paths[start : start + DECODE_CHUNK], preprocessing.resize_size,
                                     preprocessing.interpolation)
        probs.append(predict(decoded.images))
        kept += decoded.paths
        skipped += bad
        bar.update(len(decoded.paths) + len(bad))
    bar.close()
    probs = [p for p in probs if len(p)]
    out = np.concatenate(probs) if probs else np.zeros((0, 0), dtype=np.float32)
    return out, tuple(kept), skipped


@torch.no_grad()
def predict_images(model: nn.Module, images: Sequence[torch.Tensor], preprocessing: Preprocessing,
                   batch_size: int = 64, device: str = "auto", engine: str = "auto", tta: str = "none") -> np.ndarray:
    """Softmax probabilities (N, K) for images already decoded to uint8 (3, H, W) at the working
    size (`data.inputs.as_inputs`), prepared as `predict_paths` prepares files."""
    return _predictor(model, preprocessing, device, engine, len(images), batch_size, tta)(images)


def _predictor(model: nn.Module, preprocessing: Preprocessing, device: str, engine: str, count: int,
               batch_size: int, tta: str) -> Callable[[Sequence[torch.Tensor]], np.ndarray]:
    """decoded images -> probabilities (averaged over the `tta` views), through a BatchNorm-folded
    copy of `model` on the chosen engine."""
    views = tta_views(preprocessing, tta)
    target = pick_device(device)
    model.eval().to(target).to(memory_format=torch.channels_last)
    sample = probe_input(preprocessing.input_size, target)
    network = fold_batch_norm(model, lambda net: net(sample))  # the same outputs, faster
    forward, used = frozen_forward(network, preprocessing.input_size, target, engine, images=count)
    in_torch = used == "torch"

    def predict(images: Sequence[torch.Tensor]) -> np.ndarray:
        probs = []
        for first in range(0, len(images), batch_size):
            batch = torch.stack([views(img) for img in images[first : first + batch_size]])  # (B, V, C, S, S)
            with autocast(target):
                (logits,) = forward(to_device(batch.flatten(0, 1), target) if in_torch else batch.flatten(0, 1))
            probs.append(logits.float().softmax(1).unflatten(0, batch.shape[:2]).mean(1).cpu().numpy())
        return np.concatenate(probs) if probs else np.zeros((0, 0), dtype=np.float32)

    return predict


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
