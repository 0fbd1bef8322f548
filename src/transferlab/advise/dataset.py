"""What the dataset is, in numbers: images per class, imbalance, image sizes and modes.

Also the tolerant loader of `advise`: data too small to split or probe (a class with fewer
than 2 images) is described and advised on, never a crash.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data import DataSplits, load_splits
from ..data.builtin import builtin_folder, is_builtin
from ..data.images import read_header
from ..data.scan import ImageSet, Skipped, read_csv, report_skips, scan_class_folders
from ..errors import BadImageError, DataError


HEADER_SAMPLE = 1000  # image headers read for sizes and modes (cheap: no decoding)
MIN_PER_CLASS = 2  # below this no stratified split or cross-validation exists


@dataclass(frozen=True)
class DatasetFacts:
    """Counts and image properties of a dataset's training split."""

    name: str
    classes: tuple[str, ...]
    train_counts: dict[str, int]
    val_counts: dict[str, int]
    val_from_train: bool
    widths: dict[str, float] = field(default_factory=dict)  # min / median / max over the sample
    heights: dict[str, float] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # PIL mode -> images in the sample
    grey_share: float | None = None  # decoded sample images whose three channels are equal

    @property
    def train_images(self) -> int:
        return sum(self.train_counts.values())

    @property
    def per_class_median(self) -> float:
        return float(np.median(list(self.train_counts.values())))

    @property
    def smallest_class(self) -> tuple[str, int]:
        name = min(self.train_counts, key=self.train_counts.get)
        return name, self.train_counts[name]

    @property
    def imbalance(self) -> float:
        """Largest over smallest class count (1.0 = balanced)."""
        counts = list(self.train_counts.values())
        return float(max(counts) / max(1, min(counts)))

    def to_dict(self) -> dict:
        return {**asdict(self), "train_images": self.train_images, "per_class_median": self.per_class_median,
                "imbalance": self.imbalance, "smallest_class": list(self.smallest_class)}


def load_for_advice(source: str, val_fraction: float = 0.2, seed: int = 0) -> tuple[DataSplits | None, ImageSet | None]:
    """`(splits, None)` normally; `(None, all_images)` when a class has too few images to split.

    Raises:
        DataError: the data cannot be used at all (missing, one class, no images).
    """
    try:
        return load_splits(source, val_fraction, seed), None
    except DataError:
        images = _scan_all(source)
        if images is None or len(images.classes) < 2 or min(images.counts().values()) >= MIN_PER_CLASS:
            raise
        return None, images


def _scan_all(source: str) -> ImageSet | None:
    path = Path(source)
    if not path.exists() and is_builtin(source):
        path = builtin_folder(source)
    if path.is_file():
        sets, _ = read_csv(path)
        return sets.get("train")
    if not path.is_dir():
        return None
    root = path / "train" if (path / "train").is_dir() else path
    return scan_class_folders(root)[0]


def dataset_facts(name: str, train: ImageSet, val: ImageSet | None, val_from_train: bool,
                  grey_share: float | None = None, seed: int = 0) -> DatasetFacts:
    """Counts per class, and sizes/modes from the headers of up to `HEADER_SAMPLE` training images.

    Up to as many validation headers are read as well, so that a file `train` would skip is
    reported even where the advice never decodes it.
    """
    sizes, modes = [], Counter()
    for images, record in ((train, True), (val, False)):
        for size, mode in _headers(images, seed):
            if record:
                sizes.append(size)
                modes[mode] += 1
    return DatasetFacts(name, train.classes, train.counts(), val.counts() if val is not None else {},
                        val_from_train, _spread([w for w, _ in sizes]), _spread([h for _, h in sizes]),
                        dict(modes), grey_share)


def _headers(images: ImageSet | None, seed: int) -> list[tuple[tuple[int, int], str]]:
    """(size, mode) of up to `HEADER_SAMPLE` of `images`; unreadable ones reported and left out."""
    if images is None or not len(images):
        return []
    pick = np.random.default_rng(seed).choice(len(images), size=min(len(images), HEADER_SAMPLE), replace=False)
    headers, bad = [], []
    for index in sorted(pick):
        try:
            headers.append(read_header(images.paths[index]))
        except BadImageError as exc:
            bad.append(Skipped(images.paths[index], str(exc).removeprefix(f"{images.paths[index]}: ")))
    report_skips(bad)
    return headers


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": float(min(values)), "median": float(np.median(values)), "max": float(max(values))}


def grey_share(images) -> float | None:
    """Share of decoded uint8 (3, H, W) images whose channels are all equal (grey stored as RGB)."""
    if not images:
        return None
    grey = sum(1 for img in images if bool((img[0] == img[1]).all() and (img[1] == img[2]).all()))
    return grey / len(images)
