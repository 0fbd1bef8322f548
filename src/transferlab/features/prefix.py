"""The frozen prefix's outputs for every training image and augmented view, computed once, cached.

Fine-tuning the top of a network re-runs its frozen part on every image every epoch, though
its output changes only with the augmentation. Here the prefix (`models.split`) runs once per
image and per view through the fast engine (`models.inference`), its maps are kept in fp16 in
the feature cache's folder, memory-mapped, and keyed like the features (files, weights,
preprocessing, view, engine), so a second fine-tuning run or `auto`'s next trial reuses them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backbones import Backbone, Preprocessing
from ..data.decode import DecodedImages
from ..data.scan import ImageSet
from ..data.transforms import eval_batch
from ..engine.device import pick_device
from ..models.fold import fold_batch_norm, probe_input
from ..models.inference import frozen_forward
from ..models.split import BackboneSplit
from .cache import entry_path, feature_key
from .extract import ExtractionOptions

log = logging.getLogger(__name__)

BATCH = 64
PREFIX_VIEWS = 4  # augmented views drawn per image: epoch e of a fine-tuning trains on view e mod K


def prefix_maps_bytes(split: BackboneSplit, side: int, images: int) -> int:
    """Bytes that one view of `images` takes in fp16."""
    param = next(split.prefix.parameters())
    with torch.no_grad():
        shape = split.prefix.eval()(probe_input(side, param.device)).shape
    return int(np.prod(shape[1:])) * 2 * images


def cached_prefix_maps(backbone: Backbone, split: BackboneSplit, images: ImageSet, decoded: DecodedImages,
                       view: tuple | None, transform: Callable | None,
                       options: ExtractionOptions = ExtractionOptions()) -> np.ndarray:
    """(N, C, h, w) fp16 prefix outputs of `decoded` (memory-mapped), from the cache when unchanged.

    Args:
        images: the split `decoded` came from (its files key the cache entry).
        view: None for the clean images, else `(augment, view, seed)`: the view's augmentation is
            drawn from `seed` as `features-aug` draws its views, without touching the global RNG.
        transform: the per-image transform of that view (None: the eval crop and normalisation).
        options: the device, engine and progress bar (the maps are computed in fp32, kept in fp16).
    """
    pre = backbone.preprocessing
    key = feature_key(backbone, f"prefix:{split.boundary}", pre, images, options, view)
    entry = entry_path(key).with_suffix(".npy")
    if entry.is_file():
        maps = np.load(entry, mmap_mode="r")
        if len(maps) == len(decoded.images):
            return maps
    with torch.random.fork_rng(devices=[]):
        if view is not None:
            torch.manual_seed(view[2] * 100_003 + view[1])
        maps = _run_prefix(split, decoded.images, pre, transform, pick_device(options.device), options)
    _save_atomically(entry, maps)
    return np.load(entry, mmap_mode="r")


@torch.no_grad()
def _run_prefix(split: BackboneSplit, images, pre: Preprocessing, transform: Callable | None,
                device: torch.device, options: ExtractionOptions) -> np.ndarray:
    sample = probe_input(pre.input_size, device)
    prefix = fold_batch_norm(split.prefix.eval().to(device), lambda net: net(sample))
    forward, ran = frozen_forward(prefix, pre.input_size, device, options.engine, "fp32", len(images))
    chunks = []
    starts = range(0, len(images), BATCH)
    for first in tqdm(starts, desc="frozen prefix", unit="batch", disable=not options.progress):
        chunk = images[first : first + BATCH]
        batch = eval_batch(chunk, pre) if transform is None else torch.stack([transform(img) for img in chunk])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" and ran == "torch"):
            maps = forward(batch.to(device) if ran == "torch" else batch)[0]
        chunks.append(maps.to(torch.float16).cpu().numpy())
    log.info("frozen prefix (up to %s) ran once on %d images (%s)", split.boundary, len(images), ran)
    return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0, 0), dtype=np.float16)


def _save_atomically(entry: Path, maps: np.ndarray) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    partial = entry.with_name(f"{entry.stem}.{os.getpid()}.partial.npy")
    np.save(partial, maps)
    os.replace(partial, entry)
