"""Exact duplicates (same file bytes) and near-duplicates (similar features and thumbnails).

Two files are near-duplicates when their pooled features (centred on the dataset's mean, unit
length) have a cosine similarity of at least `NEAR_FEATURES`, or when their 16x16 grey thumbnails
(zero mean, unit length) reach `NEAR_PIXELS` while their features still agree (`FEATURE_FLOOR`).
Features alone do not do: on plant_leaves (leaves on one background) copies re-encoded at JPEG
quality 70, resized to 90 % and cropped by 4 px (`augmented_copy`) keep only 0.61-0.83 feature
similarity while distinct photos reach 0.89; their thumbnails stay at 0.95-0.98, distinct photos
at most 0.93 (0.90 on cats_vs_dogs, where features alone catch 9 copies of 10; bench/doctor.py).
Every checkup measures the rule again on augmented copies of sample images (`check_threshold`).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from ..backbones import Backbone, Preprocessing
from ..data.decode import resize_shorter
from ..data.images import open_rgb
from ..errors import BadImageError
from ..features import ExtractionOptions, extract_features
from .findings import EXACT, NEAR, Finding, ThresholdCheck
from .pool import Pool, embed, keep_order, kept_first

NEAR_FEATURES = 0.90  # feature similarity that alone makes a near-duplicate
NEAR_PIXELS = 0.95  # thumbnail similarity that does, if the features agree at least FEATURE_FLOOR
FEATURE_FLOOR = 0.5
THUMB = 16  # thumbnail side, pixels
COPY_SAMPLE = 16  # sample images copied to check the threshold
MAX_NEAR_PAIRS = 2000  # the most similar pairs kept (a folder of near-identical scans could pair every image)
_ROWS_PER_BLOCK = 1024  # similarity rows computed at once: memory ~ block x N floats
_READ_BYTES = 1 << 20


def file_hash(path: str) -> str:
    """sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def thumbnail_vector(image: Image.Image) -> np.ndarray:
    """(THUMB * THUMB,) grey thumbnail, zero mean and unit length: a layout fingerprint that survives
    re-encoding, resizing and small crops."""
    grey = np.asarray(image.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32).ravel()
    grey = grey - grey.mean()
    return grey / max(float(np.linalg.norm(grey)), 1e-6)


def fingerprints(paths: tuple[str, ...], workers: int = 4) -> tuple[list[str], np.ndarray]:
    """sha256 and thumbnail vector of every file (threads: reading and decoding release the GIL)."""
    def one(path: str) -> tuple[str, np.ndarray]:
        try:
            thumb = thumbnail_vector(open_rgb(path, min_side=4 * THUMB))
        except BadImageError:
            thumb = np.zeros(THUMB * THUMB, dtype=np.float32)
        return file_hash(path), thumb

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, paths))
    return [h for h, _ in results], np.stack([t for _, t in results]) if results else np.zeros((0, THUMB * THUMB))


def is_near(feature_similarity, pixel_similarity):
    """The near-duplicate rule (arrays or floats): see the module docstring."""
    return (feature_similarity >= NEAR_FEATURES) | ((pixel_similarity >= NEAR_PIXELS)
                                                    & (feature_similarity >= FEATURE_FLOOR))


def exact_duplicates(pool: Pool, hashes: list[str]) -> list[Finding]:
    """Pairs of byte-identical files: each extra copy paired with the copy to keep, leaks first."""
    groups: dict[str, list[int]] = defaultdict(list)
    for row, digest in enumerate(hashes):
        groups[digest].append(row)
    findings = []
    for digest, rows in groups.items():
        keep = min(rows, key=lambda r: keep_order(pool, r))
        for other in rows:
            if other != keep:
                pair = kept_first(pool, keep, other)
                same = pool.labels[pair[0]] == pool.labels[pair[1]]
                detail = f"identical bytes (sha256 {digest[:12]})" + ("" if same else ", labelled differently")
                findings.append(_pair_finding(pool, EXACT, pair, 1.0, detail))
    return sorted(findings, key=lambda f: (not f.leak, f.paths))


def near_duplicates(pool: Pool, hashes: list[str], thumbs: np.ndarray) -> list[Finding]:
    """Pairs of different files that `is_near`, leaks first, then by the higher of their two similarities."""
    unit = pool.embedded()
    pairs: list[tuple[float, int, int, float, float]] = []
    for start in range(0, len(unit), _ROWS_PER_BLOCK):
        features = unit[start:start + _ROWS_PER_BLOCK] @ unit.T  # (B, N)
        pixels = thumbs[start:start + _ROWS_PER_BLOCK] @ thumbs.T  # (B, N)
        rows, cols = np.nonzero(is_near(features, pixels))
        for r, c in zip(rows, cols):
            a = start + int(r)
            if a < c and hashes[a] != hashes[c]:
                f, p = float(features[r, c]), float(pixels[r, c])
                pairs.append((max(f, p), a, int(c), f, p))
    pairs = sorted(pairs, reverse=True)[:MAX_NEAR_PAIRS]
    findings = [_pair_finding(pool, NEAR, kept_first(pool, a, b), score,
                              f"feature similarity {f:.3f}, thumbnail similarity {p:.3f}")
                for score, a, b, f, p in pairs]
    return sorted(findings, key=lambda f: (not f.leak, -f.score))


def augmented_copy(image: Image.Image, crop: int = 4) -> Image.Image:
    """A near-duplicate of `image` as they occur in the wild: resized to 90 %, cropped by `crop`
    pixels on every side and re-encoded as JPEG at quality 70."""
    width, height = image.size
    small = image.convert("RGB").resize((max(1, round(width * 0.9)), max(1, round(height * 0.9))),
                                        Image.Resampling.BICUBIC)
    if min(small.size) > 4 * crop:
        small = small.crop((crop, crop, small.width - crop, small.height - crop))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=70)
    buffer.seek(0)
    with Image.open(buffer) as reread:
        return reread.convert("RGB")


def check_threshold(backbone: Backbone, pool: Pool, thumbs: np.ndarray, layer: str | None,
                    preprocessing: Preprocessing, options: ExtractionOptions = ExtractionOptions(),
                    seed: int = 0) -> ThresholdCheck:
    """How many of `COPY_SAMPLE` augmented copies `is_near` their originals."""
    rng = np.random.default_rng(seed)
    rows = sorted(rng.choice(len(pool), size=min(COPY_SAMPLE, len(pool)), replace=False).tolist())
    copies, pixels = [], []
    for row in rows:
        copy = augmented_copy(open_rgb(pool.paths[row]))
        pixels.append(float(thumbnail_vector(copy) @ thumbs[row]))
        image = resize_shorter(copy, preprocessing.resize_size, preprocessing.interpolation)
        copies.append(torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1))  # (3, H, W)
    features = extract_features(backbone, copies, layer, preprocessing, replace(options, progress=False))
    centre = pool.centre
    sims = (embed(features, centre) * embed(pool.features[rows], centre)).sum(axis=1)
    caught = is_near(sims, np.array(pixels))
    return ThresholdCheck(NEAR_FEATURES, NEAR_PIXELS, len(rows), int(caught.sum()),
                          float(sims.min()) if len(sims) else None, float(min(pixels)) if pixels else None)


def _pair_finding(pool: Pool, kind: str, pair: tuple[int, int], score: float, detail: str) -> Finding:
    return Finding(kind, tuple(pool.paths[i] for i in pair), pool.split_names(pair), pool.label_names(pair),
                   score, detail=detail)
