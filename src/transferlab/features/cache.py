"""On-disk feature cache, keyed on everything that changes the features.

Key: backbone, weights id, layer, preprocessing and the file list with sizes, mtimes, ctimes and
inodes (what git's index compares). Entries are safetensors files written atomically with a
checksum; an entry that fails to load or to match its checksum is rebuilt. Images are decoded and
run through the network in chunks, so memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from tqdm.auto import tqdm

from ..backbones import Backbone, Preprocessing
from ..data.augment import train_transform
from ..data.decode import DecodedImages, decode_images
from ..data.scan import ImageSet, Skipped, report_skips
from ..engine.device import pick_device
from ..engine.distributed import World, current_world, gather, on_main, shard_batches
from ..errors import DataError
from ..models.fingerprint import parameter_fingerprint
from ..models.storage import DIGEST_KEY, load_checked, save_checked
from ..paths import cache_dir
from ..models.inference import planned_engine
from .extract import COMPILE_MIN_IMAGES, ExtractionOptions, extract_features, inference_network

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 << 20  # decoded uint8 pixels held at once while extracting (bench/load.py)


@dataclass(frozen=True)
class FeatureSet:
    """Pooled features with labels and the paths they came from (unreadable files dropped)."""

    features: np.ndarray  # (N, C) float32
    labels: np.ndarray  # (N,) int64
    paths: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    from_cache: bool = False


@dataclass(frozen=True)
class AugmentedView:
    """Augmented view number `index` of every image, drawn reproducibly from `seed`.

    Attributes:
        augment: an augmentation preset or spec (as `data.augment.resolve_augment` takes).
        index: which view (each is its own cache entry).
        seed: the run's seed.
    """

    augment: str
    index: int = 0
    seed: int = 0


def feature_key(backbone: Backbone, layer: str | None, pre: Preprocessing, images: ImageSet,
                options: ExtractionOptions, view: tuple | None = None) -> str:
    """sha256 of everything the features depend on (`options`' precision and engine included)."""
    files = []
    for path in images.paths:
        try:
            stat = os.stat(path)
            # ctime and inode too: a file replaced by a copy that kept size and mtime (cp -p, rsync -t)
            # still changes them, and nobody can set ctime back.
            files.append((path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino))
        except OSError:
            files.append((path, -1, -1, -1, -1))
    payload = {
        "backbone": backbone.name,
        "weights": backbone.weights_id,
        "parameters": parameter_fingerprint(backbone),
        "layer": layer,
        "preprocessing": pre.to_dict(),
        "files": files,
        "labels": list(images.labels),
        "view": view,
        "computed": [options.precision, options.engine],  # what ran the network (features differ by ~1e-5)
        "version": 2,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached_features(
    backbone: Backbone,
    images: ImageSet,
    layer: str | None = None,
    preprocessing: Preprocessing | None = None,
    options: ExtractionOptions = ExtractionOptions(),
    *,
    root: Path | None = None,
    decoded: DecodedImages | None = None,
    view: AugmentedView | None = None,
) -> FeatureSet:
    """Features for `images`, from the cache when every input is unchanged, else computed and stored.

    Args:
        options: how the network runs; its precision and engine are part of the cache key.
        root: the cache folder (default: `paths.cache_dir() / "features"`).
        decoded: the images already decoded at `preprocessing.resize_size` (skips decoding again).
        view: with it, the features are of that augmented view instead of the eval crop.
    """
    pre = preprocessing or backbone.preprocessing
    world = current_world()
    view_id = None
    if view is not None:  # a view is drawn per shard: the same seed over N processes draws other views
        view_id = (view.augment, view.index, view.seed) + ((world.size,) if world.active else ())
    entry = entry_path(feature_key(backbone, layer, pre, images, options, view_id), root)
    entry.parent.mkdir(parents=True, exist_ok=True)

    def compute(part: ImageSet, part_decoded: DecodedImages | None) -> FeatureSet:
        if view is None:
            return _computed(backbone, part, part_decoded, layer, pre, options, None)
        # torchvision's random transforms draw from the global CPU generator only: it is seeded
        # for this view's draws and restored afterwards, so the caller's RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(view.seed * 100_003 + view.index)
            return _computed(backbone, part, part_decoded, layer, pre, options, train_transform(pre, view.augment))

    if world.active:
        result = _shared_entry(entry, images, decoded, options.batch_size, compute, world)
    else:
        with FileLock(str(entry) + ".lock"):
            result = _cache_hit(entry)
            if result is None:
                result = _checked(compute(images, decoded), images)
                _write_entry(entry, result)
    return result


def _computed(backbone: Backbone, images: ImageSet, decoded: DecodedImages | None, layer: str | None,
              pre: Preprocessing, options: ExtractionOptions, transform) -> FeatureSet:
    """Features of `images` (decoded here chunk by chunk unless `decoded` holds them)."""
    if decoded is None:
        features, kept_paths, skipped = _stream_features(backbone, images, layer, pre, options, transform)
    else:
        kept_paths, decoded_set = decoded.paths, set(decoded.paths)
        skipped = [Skipped(p, "unreadable image") for p in images.paths if p not in decoded_set]
        features = extract_features(backbone, decoded.images, layer, pre, options, transform)
    kept = set(kept_paths)
    labels = np.array([lab for p, lab in zip(images.paths, images.labels) if p in kept], dtype=np.int64)
    return FeatureSet(features, labels, tuple(kept_paths), tuple(skipped))


def _cache_hit(entry: Path) -> FeatureSet | None:
    cached = _read_entry(entry)
    if cached is not None:
        log.info("feature cache hit: %s", entry.name)
        report_skips(cached.skipped)
    return cached


def _checked(result: FeatureSet, images: ImageSet) -> FeatureSet:
    if len(images) and not result.paths:
        raise DataError(f"none of the {len(images)} images could be read (e.g. {result.skipped[0]})")
    return result


def _shared_entry(entry: Path, images: ImageSet, decoded: DecodedImages | None, batch_size: int,
                  compute, world: World) -> FeatureSet:
    """The distributed path: rank 0 reads the cache; on a miss each rank extracts whole batches of
    its share, every rank receives all of them in the original order, and rank 0 stores the entry."""
    hit = on_main(lambda: _read_entry(entry))
    if hit is not None:
        log.info("feature cache hit: %s", entry.name)
        report_skips(hit.skipped)
        return hit
    if decoded is None:
        part, part_decoded = images.subset(shard_batches(len(images), batch_size, world)), None
    else:
        rows = shard_batches(len(decoded.images), batch_size, world)
        part_decoded = DecodedImages(tuple(decoded.paths[i] for i in rows), tuple(decoded.images[i] for i in rows),
                                     decoded.short_side)
        mine = set(part_decoded.paths)
        if world.is_main:  # the images that did not decode are rank 0's to report
            mine |= set(images.paths) - set(decoded.paths)
        part = images.subset([i for i, p in enumerate(images.paths) if p in mine])
    result = _checked(_merge(gather(compute(part, part_decoded)), images), images)
    if world.is_main:
        report_skips(result.skipped)  # what the other ranks found, recorded (and said) here
        with FileLock(str(entry) + ".lock"):
            _write_entry(entry, result)
    return result


def _merge(parts: list[FeatureSet], images: ImageSet) -> FeatureSet:
    """One FeatureSet in the order of `images` from the ranks' shares."""
    row = {p: (k, i) for k, part in enumerate(parts) for i, p in enumerate(part.paths)}
    kept = [p for p in images.paths if p in row]
    dims = [part.features.shape[1] for part in parts if len(part.paths)]
    features = np.empty((len(kept), dims[0] if dims else 0), dtype=np.float32)
    for n, path in enumerate(kept):
        k, i = row[path]
        features[n] = parts[k].features[i]
    label_of = dict(zip(images.paths, images.labels))
    bad = {s.path: s for part in parts for s in part.skipped}
    return FeatureSet(features, np.array([label_of[p] for p in kept], dtype=np.int64), tuple(kept),
                      tuple(bad[p] for p in images.paths if p in bad))


def _stream_features(backbone, images: ImageSet, layer, pre: Preprocessing, options: ExtractionOptions,
                     transform) -> tuple[np.ndarray, tuple[str, ...], list[Skipped]]:
    """Decode and extract chunk by chunk: only one chunk of decoded pixels is ever in memory."""
    chunk = int(np.clip(CHUNK_BYTES // (3 * pre.resize_size**2), options.batch_size, 8192))
    target = pick_device(options.device)
    backbone.eval().to(target).to(memory_format=torch.channels_last)
    backbone = inference_network(backbone, (layer,), pre.input_size, target)  # once, not per chunk
    # compilation and engine decided on the whole extraction, not per chunk
    compiled = options.compile if options.compile is not None else len(images) >= COMPILE_MIN_IMAGES
    per_chunk = replace(options, progress=False, compile=compiled, engine=planned_engine(options.engine, len(images)))
    features, kept, skipped = None, [], []  # features: (N, C), filled in place (no concatenated copy)
    bar = tqdm(total=len(images), desc="features", unit="img", disable=not options.progress)

    def chunk_features(paths: Sequence[str]) -> tuple[np.ndarray | None, tuple[str, ...], list[Skipped]]:
        # the decoded pixels die here, before the next chunk is decoded
        decoded, bad = decode_images(paths, pre.resize_size, pre.interpolation)
        if not decoded.images:
            return None, (), bad
        part = extract_features(backbone, decoded.images, layer, pre, per_chunk, transform)
        return part, decoded.paths, bad

    for first in range(0, len(images), chunk):
        part, paths, bad = chunk_features(images.paths[first : first + chunk])
        if part is not None:
            if features is None:
                features = np.empty((len(images), part.shape[1]), dtype=np.float32)
            features[len(kept) : len(kept) + len(part)] = part
        kept += paths
        skipped += bad
        bar.update(len(paths) + len(bad))
    bar.close()
    if features is None:
        return np.zeros((0, 0), dtype=np.float32), (), skipped
    return features[: len(kept)], tuple(kept), skipped


def entry_path(key: str, root: Path | None = None) -> Path:
    """Where the cache entry for `key` (from `feature_key`) lives."""
    return (root or cache_dir() / "features") / f"{key}.safetensors"


def load_entry(key: str, root: Path | None = None) -> FeatureSet | None:
    """The cached features for `key`, or None (missing or corrupt): for callers that fill several
    entries in one pass (e.g. a depth sweep tapping every stage at once)."""
    return _read_entry(entry_path(key, root))


def store_entry(key: str, result: FeatureSet, root: Path | None = None) -> None:
    """Write `result` as the cache entry for `key` (atomically)."""
    entry = entry_path(key, root)
    entry.parent.mkdir(parents=True, exist_ok=True)
    _write_entry(entry, result)


def _write_entry(entry: Path, result: FeatureSet) -> None:
    meta = {
        "paths": json.dumps(list(result.paths)),
        "skipped": json.dumps([[s.path, s.reason] for s in result.skipped]),
    }
    tensors = {
        "features": torch.from_numpy(np.ascontiguousarray(result.features)),
        "labels": torch.from_numpy(result.labels),
    }
    save_checked(tensors, entry, meta)


def _read_entry(entry: Path) -> FeatureSet | None:
    if not entry.is_file():
        return None
    try:
        tensors, meta = load_checked(entry)
        if DIGEST_KEY not in meta:  # every entry this version writes has one
            raise ValueError("no checksum")
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
