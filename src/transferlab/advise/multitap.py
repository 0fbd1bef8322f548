"""Pooled features of several layers from ONE forward pass, each stored as its own cache entry.

A depth sweep needs the features of every stage. Calling `cached_features` once per layer
would run the conv base once per layer; here forward hooks pool every requested layer during
a single pass, and each layer's features are written to the
same cache entry `cached_features(backbone, images, layer, ...)` would use, so a strategy run
afterwards at the chosen layer reads them instead of extracting again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backbones import Backbone, Preprocessing
from ..data.decode import decode_images
from ..data.scan import ImageSet
from ..errors import DataError
from ..engine.device import pick_device
from ..features.cache import FeatureSet, feature_key, load_entry, store_entry
from ..features.extract import extract_features
from ..models.fold import fold_batch_norm, probe_input

log = logging.getLogger(__name__)

Layer = str | None  # None: the end of the conv base
CHUNK_BYTES = 64 << 20  # decoded uint8 pixels held at once


def cached_layer_features(
    backbone: Backbone,
    images: ImageSet,
    layers: Sequence[Layer],
    preprocessing: Preprocessing | None = None,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
    root: Path | None = None,
) -> dict[Layer, FeatureSet]:
    """Features of `images` at every layer in `layers`: cached entries are read, the others
    computed together in one pass and stored (entries are written atomically, so concurrent
    writers are safe; at worst both compute).

    Images are decoded chunk by chunk, so memory does not grow with the dataset.

    Returns:
        layer -> FeatureSet, the same objects `cached_features` returns for that layer.
    """
    pre = preprocessing or backbone.preprocessing
    keys = {layer: feature_key(backbone, layer, pre, images) for layer in dict.fromkeys(layers)}
    found = {layer: load_entry(key, root) for layer, key in keys.items()}
    missing = [layer for layer, result in found.items() if result is None]
    log.info("depth sweep features: %d layer(s) cached, %d to extract", len(keys) - len(missing), len(missing))
    if missing:
        arrays, kept, skipped = _extract_in_chunks(backbone, images, missing, pre, batch_size, device, progress)
        if len(images) and not kept:
            raise DataError(f"none of the {len(images)} images could be read (e.g. {skipped[0]})")
        label_of = dict(zip(images.paths, images.labels))
        labels = np.array([label_of[p] for p in kept], dtype=np.int64)
        for layer in missing:
            found[layer] = FeatureSet(arrays[layer], labels, kept, skipped)
            store_entry(keys[layer], found[layer], root)
    return {layer: found[layer] for layer in keys}


def _extract_in_chunks(backbone, images: ImageSet, layers, pre, batch_size, device, progress):
    chunk = int(np.clip(CHUNK_BYTES // (3 * pre.resize_size**2), batch_size, 8192))
    sweep = _sweep(backbone, layers, pre, device)  # folded once, not per chunk
    parts: dict[Layer, list[np.ndarray]] = {layer: [] for layer in layers}
    kept, skipped = [], []
    bar = tqdm(total=len(images), desc="sweep features", unit="img", disable=not progress)
    for first in range(0, len(images), chunk):
        arrays, paths, bad = _chunk_layers(sweep, images.paths[first : first + chunk], layers, pre, batch_size,
                                           device)
        for layer, array in arrays.items():
            parts[layer].append(array)
        kept += paths
        skipped += bad
        bar.update(len(paths) + len(bad))
    bar.close()
    arrays = {layer: np.concatenate(p) if p else np.zeros((0, 0), np.float32) for layer, p in parts.items()}
    return arrays, tuple(kept), tuple(skipped)


def _chunk_layers(sweep: _Sweep, paths, layers, pre, batch_size, device):
    """One chunk's features per layer; its decoded pixels are freed before the next chunk is decoded."""
    decoded, bad = decode_images(paths, pre.resize_size, pre.interpolation)
    if not decoded.images:
        return {}, (), bad
    return _pooled_layers(sweep, decoded.images, layers, pre, batch_size, device, False), decoded.paths, bad


def extract_layers(
    backbone: Backbone,
    images: Sequence[torch.Tensor],
    layers: Sequence[Layer],
    preprocessing: Preprocessing | None = None,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
) -> dict[Layer, np.ndarray]:
    """Globally average-pooled features (N, C_layer) of decoded uint8 images, for every layer
    in `layers`, from one forward pass per batch (only as deep as the deepest layer needs).

    The pass is `features.extract_features` at the deepest layer (same batching, precision and
    pooling as every other extraction); hooks pool the shallower layers on the way.
    """
    pre = preprocessing or backbone.preprocessing
    return _pooled_layers(_sweep(backbone, layers, pre, device), images, layers, pre, batch_size, device, progress)


class _Sweep(NamedTuple):
    """The network a sweep runs, the layer it stops at and the shallower layers it hooks."""

    network: Backbone
    deepest: Layer
    taps: tuple[str, ...]


def _sweep(backbone: Backbone, layers: Sequence[Layer], pre: Preprocessing, device: str) -> _Sweep:
    named = in_forward_order(backbone, [layer for layer in layers if layer is not None])
    deepest = None if None in layers else named[-1]
    taps = tuple(name for name in named if name != deepest)
    return _Sweep(_tapped_network(backbone, deepest, taps, pre.input_size, pick_device(device)), deepest, taps)


def _pooled_layers(sweep: _Sweep, images, layers, pre, batch_size, device, progress) -> dict[Layer, np.ndarray]:
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in sweep.taps}
    handles = [sweep.network.layer(name).register_forward_hook(_pooling_hook(pooled[name])) for name in sweep.taps]
    try:
        last = extract_features(sweep.network, images, sweep.deepest, pre, batch_size, device, progress,
                                compile=False, fold=False)
    finally:
        for handle in handles:
            handle.remove()
    result = {name: np.concatenate(chunks).astype(np.float32) for name, chunks in pooled.items()}
    result[sweep.deepest] = last
    return {layer: result[layer] for layer in layers}


def _tapped_network(backbone: Backbone, deepest: Layer, taps: Sequence[str], side: int, device) -> Backbone:
    """`backbone` with BatchNorm folded (`models.fold`) if that leaves the pooled features at
    `deepest` and at every tap unchanged (a tap on a bare convolution would not be), else itself."""
    backbone.eval().to(device).to(memory_format=torch.channels_last)
    sample = probe_input(side, device)

    def run(network: Backbone) -> torch.Tensor:
        pooled: dict[str, list[np.ndarray]] = {name: [] for name in taps}
        handles = [network.layer(name).register_forward_hook(_pooling_hook(pooled[name])) for name in taps]
        try:
            outputs = [network.features(sample, deepest, pooled=True).float().cpu()]
        finally:
            for handle in handles:
                handle.remove()
        outputs += [torch.from_numpy(np.concatenate(pooled[name])) for name in taps]
        return torch.cat([output.flatten(1) for output in outputs], dim=1)

    return fold_batch_norm(backbone, run)


def in_forward_order(backbone: Backbone, layers: Sequence[str]) -> list[str]:
    """`layers` sorted as the forward pass reaches them (module registration order)."""
    order = {name: i for i, name in enumerate(backbone.layer_names())}
    for layer in layers:
        backbone.layer(layer)  # unknown names fail here, listing the close ones
    return sorted(dict.fromkeys(layers), key=order.__getitem__)


def _pooling_hook(sink: list):
    def hook(_module, _inputs, output):
        maps = output[0] if isinstance(output, (tuple, list)) else output
        pooled = maps.mean(dim=(2, 3)) if maps.dim() == 4 else maps  # (B, C, H, W) -> (B, C), as Backbone.features
        sink.append(pooled.float().cpu().numpy())

    return hook
