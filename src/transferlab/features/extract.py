"""Run a frozen conv base over decoded images once: pooled features at a chosen layer."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backbones import Backbone, Preprocessing
from ..data.transforms import eval_transform
from ..engine.device import autocast, pick_device, to_device

log = logging.getLogger(__name__)


@torch.inference_mode()
def extract_features(
    backbone: Backbone,
    images,
    layer: str | None = None,
    preprocessing: Preprocessing | None = None,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
    transform=None,
) -> np.ndarray:
    """Pooled features (N, C) float32 for decoded uint8 images (3, H, W).

    Args:
        backbone: a backbone (its top is ignored).
        images: sequence of uint8 tensors, e.g. `DecodedImages.images`.
        layer: named layer to tap; None for the end of the conv base.
        preprocessing: eval preprocessing (default: the backbone's).
        batch_size: images per forward pass.
        device: "auto", "cpu", "cuda", ...
        progress: show a progress bar.
        transform: per-image transform to the network's input (default: the eval transform).
    """
    transform = transform or eval_transform(preprocessing or backbone.preprocessing)
    target = pick_device(device)
    backbone.eval().to(target).to(memory_format=torch.channels_last)
    chunks, start = [], time.perf_counter()
    bar = tqdm(total=len(images), desc="features", unit="img", disable=not progress)
    for first in range(0, len(images), batch_size):
        batch = torch.stack([transform(img) for img in images[first : first + batch_size]])
        with autocast(target):
            feats = backbone.features(to_device(batch, target), layer, pooled=True)
        chunks.append(feats.float().cpu().numpy())
        bar.update(len(batch))
    bar.close()
    elapsed = time.perf_counter() - start
    log.info("extracted %d feature vectors in %.1fs (%.0f img/s)", len(images), elapsed, len(images) / max(elapsed, 1e-9))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)
