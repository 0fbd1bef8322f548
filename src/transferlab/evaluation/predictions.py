"""Run a classifier over image files: class probabilities (and unlike scores), unreadable files skipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Scored:
    """What a model says about images: class probabilities, unlike scores, and the files left out."""

    probs: np.ndarray  # (N, K)
    unlike: np.ndarray  # (N,) 0 where the model gives none (`models.calibrated.Calibrated` does)
    paths: tuple[str, ...]
    skipped: list[Skipped]


# no_grad, not inference_mode: the model is moved in place, and parameters converted inside
# inference mode could never be trained again (see features/extract.py).
@torch.no_grad()
def score_paths(
    model: nn.Module,
    paths: list[str] | tuple[str, ...],
    preprocessing: Preprocessing,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
    engine: str = "auto",
    tta: str = "none",
) -> Scored:
    """Softmax probabilities (N, K) and unlike scores (N,) for the readable images among `paths`.

    `model` returns logits, or (logits, unlike scores) as `Calibrated` does. Images are decoded
    `DECODE_CHUNK` at a time, so memory does not grow with `len(paths)`. `engine` runs the
    forward pass ("auto", "torch", "openvino": `models.inference.frozen_forward`); `tta` averages
    over test-time views ("none", "flip", "crops": `tta_views`).
    """
    predict = _predictor(model, preprocessing, device, engine, len(paths), batch_size, tta)
    probs, unlike, kept, skipped = [], [], [], []
    bar = tqdm(total=len(paths), desc="predict", unit="img", disable=not progress)
    for start in range(0, len(paths), DECODE_CHUNK):
        decoded, bad = decode_images(paths[start : start + DECODE_CHUNK], preprocessing.resize_size,
                                     preprocessing.interpolation)
        chunk_probs, chunk_unlike = predict(decoded.images)
        probs.append(chunk_probs)
        unlike.append(chunk_unlike)
        kept += decoded.paths
        skipped += bad
        bar.update(len(decoded.paths) + len(bad))
    bar.close()
    probs = [p for p in probs if len(p)]
    out = np.concatenate(probs) if probs else np.zeros((0, 0), dtype=np.float32)
    return Scored(out, np.concatenate(unlike) if unlike else np.zeros(0, dtype=np.float32), tuple(kept), skipped)


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
    """Softmax probabilities (N, K) for the readable images among `paths`, and what was skipped
    (`score_paths` without the unlike scores)."""
    scored = score_paths(model, paths, preprocessing, batch_size, device, progress, engine, tta)
    return scored.probs, scored.paths, scored.skipped


@torch.no_grad()
def score_images(model: nn.Module, images: Sequence[torch.Tensor], preprocessing: Preprocessing,
                 batch_size: int = 64, device: str = "auto", engine: str = "auto",
                 tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, K) and unlike scores (N,) for images already decoded to uint8 (3, H, W)
    at the working size (`data.inputs.as_inputs`), prepared as `score_paths` prepares files."""
    return _predictor(model, preprocessing, device, engine, len(images), batch_size, tta)(images)


def _predictor(model: nn.Module, preprocessing: Preprocessing, device: str, engine: str, count: int,
               batch_size: int, tta: str) -> Callable[[Sequence[torch.Tensor]], tuple[np.ndarray, np.ndarray]]:
    """decoded images -> (probabilities, unlike scores), each averaged over the `tta` views,
    through a BatchNorm-folded copy of `model` on the chosen engine."""
    views = tta_views(preprocessing, tta)
    target = pick_device(device)
    model.eval().to(target).to(memory_format=torch.channels_last)
    sample = probe_input(preprocessing.input_size, target)
    network = fold_batch_norm(model, lambda net: _flat(net(sample)))  # the same outputs, faster
    forward, used = frozen_forward(network, preprocessing.input_size, target, engine, images=count)
    in_torch = used == "torch"

    def predict(images: Sequence[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        probs, unlike = [], []
        for first in range(0, len(images), batch_size):
            batch = torch.stack([views(img) for img in images[first : first + batch_size]])  # (B, V, C, S, S)
            with autocast(target):
                logits, *rest = forward(to_device(batch.flatten(0, 1), target) if in_torch else batch.flatten(0, 1))
            probs.append(logits.float().softmax(1).unflatten(0, batch.shape[:2]).mean(1).cpu().numpy())
            score = rest[0].float() if rest else logits.new_zeros(len(logits), dtype=torch.float32)
            unlike.append(score.unflatten(0, batch.shape[:2]).mean(1).cpu().numpy())
        if not probs:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
        return np.concatenate(probs), np.concatenate(unlike)

    return predict


def _flat(outputs) -> torch.Tensor:
    """A network's output, or its tuple of outputs, as one (B, -1) tensor (to compare two copies)."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return torch.cat([out.reshape(len(out), -1) for out in outputs], dim=1)


def top_k_predictions(
    probs: np.ndarray, paths: Sequence[str], class_names: Sequence[str], k: int,
    unlike: np.ndarray | None = None, threshold: float | None = None,
) -> list[dict[str, Any]]:
    """Per image: `image`, its `predictions` (the `k` most probable classes with rank/index/label/
    probability), its `unlike_score` and whether it is `unknown` (score above `threshold`; both
    None without a threshold: a run from before calibration, or an ImageNet backbone)."""
    results = []
    for i, (path, row) in enumerate(zip(paths, probs)):
        order = np.argsort(-row, kind="stable")[: min(k, len(row))]
        predictions = [
            {"rank": rank + 1, "index": int(c), "label": class_names[int(c)], "probability": float(row[c])}
            for rank, c in enumerate(order)
        ]
        score = float(unlike[i]) if threshold is not None and unlike is not None else None
        results.append({"image": str(path), "predictions": predictions, "unlike_score": score,
                        "unknown": None if score is None else bool(score > threshold)})
    return results
