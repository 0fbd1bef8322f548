"""Pooled features of several layers from ONE forward pass, each stored as its own cache entry.

A depth sweep needs the features of every stage. Calling `cached_features` once per layer
would run the conv base once per layer; here one pass (`extract_layer_features`, through the
fast engine where it holds) pools every requested layer, and each layer's features are written
to the same cache entry `cached_features(backbone, images, layer, ...)` would use, so a strategy
run afterwards at the chosen layer reads them instead of extracting again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
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
from ..models.inference import planned_engine
from ..features.extract import ExtractionOptions, extract_layer_features, inference_network

log = logging.getLogger(__name__)

Layer = str | None  # None: the end of the conv base
CHUNK_BYTES = 64 << 20  # decoded uint8 pixels held at once


def cached_layer_features(
    backbone: Backbone,
    images: ImageSet,
    layers: Sequence[Layer],
    preprocessing: Preprocessing | None = None,
    options: ExtractionOptions = ExtractionOptions(),
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
    keys = {layer: feature_key(backbone, layer, pre, images, options) for layer in dict.fromkeys(layers)}
    found = {layer: load_entry(key, root) for layer, key in keys.items()}
    missing = [layer for layer, result in found.items() if result is None]
    log.info("depth sweep features: %d layer(s) cached, %d to extract", len(keys) - len(missing), len(missing))
    if missing:
        arrays, kept, skipped = _extract_in_chunks(backbone, images, missing, pre, options)
        if len(images) and not kept:
            raise DataError(f"none of the {len(images)} images could be read (e.g. {skipped[0]})")
        label_of = dict(zip(images.paths, images.labels))
        labels = np.array([label_of[p] for p in kept], dtype=np.int64)
        for layer in missing:
            found[layer] = FeatureSet(arrays[layer], labels, kept, skipped)
            store_entry(keys[layer], found[layer], root)
    return {layer: found[layer] for layer in keys}


def _extract_in_chunks(backbone, images: ImageSet, layers, pre, options: ExtractionOptions):
    chunk = int(np.clip(CHUNK_BYTES // (3 * pre.resize_size**2), options.batch_size, 8192))
    sweep = _sweep(backbone, layers, pre, options.device)  # folded once, not per chunk
    per_chunk = replace(options, compile=False, engine=planned_engine(options.engine, len(images)), progress=False)
    parts: dict[Layer, list[np.ndarray]] = {layer: [] for layer in layers}
    kept, skipped = [], []
    bar = tqdm(total=len(images), desc="sweep features", unit="img", disable=not options.progress)
    for first in range(0, len(images), chunk):
        # each chunk's decoded pixels are freed before the next chunk is decoded
        decoded, bad = decode_images(images.paths[first : first + chunk], pre.resize_size, pre.interpolation)
        if decoded.images:
            arrays = _pooled_layers(sweep, decoded.images, pre, per_chunk)
            for layer, array in arrays.items():
                parts[layer].append(array)
        kept += decoded.paths
        skipped += bad
        bar.update(len(decoded.paths) + len(bad))
    bar.close()
    arrays = {layer: np.concatenate(p) if p else np.zeros((0, 0), np.float32) for layer, p in parts.items()}
    return arrays, tuple(kept), tuple(skipped)


def extract_layers(
    backbone: Backbone,
    images: Sequence[torch.Tensor],
    layers: Sequence[Layer],
    preprocessing: Preprocessing | None = None,
    options: ExtractionOptions = ExtractionOptions(),
) -> dict[Layer, np.ndarray]:
    """Globally average-pooled features (N, C_layer) of decoded uint8 images, for every layer
    in `layers`, from one forward pass per batch (only as deep as the deepest layer needs).

    The pass is `features.extract_layer_features` (same batching, precision, engine and pooling
    as every other extraction).
    """
    pre = preprocessing or backbone.preprocessing
    result = _pooled_layers(_sweep(backbone, layers, pre, options.device), images, pre,
                            replace(options, compile=False))
    return {layer: result[layer] for layer in layers}


class _Sweep(NamedTuple):
    """The network a sweep runs (BatchNorm folded where every tap stays the same) and its taps in forward order."""

    network: Backbone
    layers: tuple[Layer, ...]


def _sweep(backbone: Backbone, layers: Sequence[Layer], pre: Preprocessing, device: str) -> _Sweep:
    named = in_forward_order(backbone, [layer for layer in layers if layer is not None])
    ordered = tuple(named) + ((None,) if None in layers else ())
    target = pick_device(device)
    backbone.eval().to(target).to(memory_format=torch.channels_last)
    return _Sweep(inference_network(backbone, ordered, pre.input_size, target), ordered)


def _pooled_layers(sweep: _Sweep, images, pre, options: ExtractionOptions) -> dict[Layer, np.ndarray]:
    arrays = extract_layer_features(sweep.network, images, sweep.layers, pre, options, fold=False)
    return dict(zip(sweep.layers, arrays))


def in_forward_order(backbone: Backbone, layers: Sequence[str]) -> list[str]:
    """`layers` sorted as the forward pass reaches them (module registration order)."""
    order = {name: i for i, name in enumerate(backbone.layer_names())}
    for layer in layers:
        backbone.layer(layer)  # unknown names fail here, listing the close ones
    return sorted(dict.fromkeys(layers), key=order.__getitem__)
