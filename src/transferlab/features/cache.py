"""On-disk feature cache, keyed on everything that changes the features.

Key: backbone, weights id, layer, preprocessing and the file list with sizes and mtimes.
Entries are safetensors files written atomically; an entry that fails to load is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file

from ..backbones import Backbone, Preprocessing
from ..data.augment import train_transform
from ..data.decode import DecodedImages, decode_images
from ..data.scan import ImageSet, Skipped
from ..paths import atomic_path, cache_dir
from .extract import extract_features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSet:
    """Pooled features with labels and the paths they came from (unreadable files dropped)."""

    features: np.ndarray  # (N, C) float32
    labels: np.ndarray  # (N,) int64
    paths: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    from_cache: bool = False


def feature_key(backbone: Backbone, layer: str | None, pre: Preprocessing, images: ImageSet,
                view: tuple | None = None) -> str:
    """sha256 of everything the features depend on."""
    files = []
    for path in images.paths:
        try:
            stat = os.stat(path)
            files.append((path, stat.st_size, stat.st_mtime_ns))
        except OSError:
            files.append((path, -1, -1))
    payload = {
        "backbone": backbone.name,
        "weights": backbone.weights_id,
        "parameters": parameter_fingerprint(backbone),
        "layer": layer,
        "preprocessing": pre.to_dict(),
        "files": files,
        "labels": list(images.labels),
        "view": view,
        "version": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def parameter_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer: random or fine-tuned weights never share entries."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_features(
    backbone: Backbone,
    images: ImageSet,
    layer: str | None = None,
    preprocessing: Preprocessing | None = None,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
    root: Path | None = None,
    decoded: DecodedImages | None = None,
    augment: str | None = None,
    view: int = 0,
    seed: int = 0,
) -> FeatureSet:
    """Features for `images`, from the cache when every input is unchanged, else computed and stored.

    Args:
        decoded: the images already decoded at `preprocessing.resize_size` (skips decoding again).
        augment: an augmentation preset; with it the features are of augmented view number
            `view`, drawn reproducibly from `seed` (each view is its own cache entry).
    """
    pre = preprocessing or backbone.preprocessing
    view_id = (augment, view, seed) if augment else None
    key = feature_key(backbone, layer, pre, images, view_id)
    entry = (root or cache_dir() / "features") / f"{key}.safetensors"
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock"):
        cached = _read_entry(entry)
        if cached is not None:
            log.info("feature cache hit: %s", entry.name)
            return cached
        if decoded is None:
            decoded, skipped = decode_images(images.paths, pre.resize_size, pre.interpolation, progress=progress)
        else:
            kept_paths = set(decoded.paths)
            skipped = [Skipped(p, "unreadable image") for p in images.paths if p not in kept_paths]
        transform = None
        if augment:
            torch.manual_seed(seed * 100_003 + view)
            transform = train_transform(pre, augment)
        features = extract_features(backbone, decoded.images, layer, pre, batch_size, device, progress, transform)
        kept = set(decoded.paths)
        labels = np.array([lab for p, lab in zip(images.paths, images.labels) if p in kept], dtype=np.int64)
        result = FeatureSet(features, labels, decoded.paths, tuple(skipped))
        _write_entry(entry, result)
        return result


def _write_entry(entry: Path, result: FeatureSet) -> None:
    meta = {
        "paths": json.dumps(list(result.paths)),
        "skipped": json.dumps([[s.path, s.reason] for s in result.skipped]),
    }
    tensors = {
        "features": torch.from_numpy(np.ascontiguousarray(result.features)),
        "labels": torch.from_numpy(result.labels),
    }
    with atomic_path(entry) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def _read_entry(entry: Path) -> FeatureSet | None:
    if not entry.is_file():
        return None
    try:
        tensors = load_file(str(entry))
        from safetensors import safe_open

        with safe_open(str(entry), framework="pt") as handle:
            meta = handle.metadata()
        paths = tuple(json.loads(meta["paths"]))
        skipped = tuple(Skipped(p, r) for p, r in json.loads(meta["skipped"]))
        features, labels = tensors["features"].numpy(), tensors["labels"].numpy()
        if len(paths) != len(features) or len(labels) != len(features):
            raise ValueError("inconsistent entry")
    except Exception as exc:  # a corrupt entry is rebuilt, never used
        log.warning("feature cache entry %s is unreadable (%s); rebuilding", entry.name, exc)
        entry.unlink(missing_ok=True)
        return None
    return FeatureSet(features, labels, paths, skipped, from_cache=True)
