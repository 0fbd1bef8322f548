"""Find labelled images: class folders (with optional train/val/test) or a CSV of path,label."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import is_image_name

log = logging.getLogger(__name__)

_JUNK_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Skipped:
    """A file left out, and why (reported one line per file)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


# The skips reported inside the outermost `recording_skips()` block, by path (None outside one).
_RECORDED: ContextVar[dict[str, Skipped] | None] = ContextVar("transferlab_recorded_skips", default=None)


@contextlib.contextmanager
def recording_skips() -> Iterator[dict[str, Skipped]]:
    """Collect every file reported by `report_skips` inside the block, each reported only once.

    A run reads a split more than once (feature extraction, a cache hit, evaluation): inside
    this block an unreadable file gives one warning line, and the yielded dict (path -> Skipped)
    lists every file left out, whichever step found it. Nested blocks share the outer record.
    """
    outer = _RECORDED.get()
    if outer is not None:
        yield outer
        return
    token = _RECORDED.set({})
    try:
        yield _RECORDED.get()
    finally:
        _RECORDED.reset(token)


def report_skips(items: Iterable[Skipped]) -> None:
    """Log each skipped file as one warning line (once per path inside `recording_skips`)."""
    recorded = _RECORDED.get()
    for item in items:
        if recorded is not None:
            if item.path in recorded:
                continue
            recorded[item.path] = item
        log.warning("%s", item)


@dataclass(frozen=True)
class ImageSet:
    """Image paths with integer labels into `classes`."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        """Images per class, every class listed."""
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts)}

    def subset(self, indices) -> "ImageSet":
        """The images at `indices`, same classes."""
        return replace(
            self,
            paths=tuple(self.paths[i] for i in indices),
            labels=tuple(self.labels[i] for i in indices),
        )

    def without(self, bad_paths: set[str]) -> "ImageSet":
        """This set minus `bad_paths`."""
        return self.subset([i for i, p in enumerate(self.paths) if p not in bad_paths])


def stratified_subsample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most `limit` samples keeping class proportions (all of them if fewer)."""
    if len(labels) <= limit:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        share = max(2, int(round(limit * len(members) / len(labels))))
        keep.append(rng.choice(members, size=min(share, len(members)), replace=False))
    return np.sort(np.concatenate(keep))



@dataclass(frozen=True)
class DataSplits:
    """Train/val(/test) image sets over one list of classes, plus what was skipped."""

    name: str
    train: ImageSet
    val: ImageSet
    test: ImageSet | None = None
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)
    val_from_train: bool = False

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def summary(self) -> dict:
        """Counts per split and class, for reports and `summary.json`."""
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {
            "name": self.name,
            "classes": list(self.classes),
            "counts": {k: v.counts() for k, v in splits.items() if v is not None},
            "val_from_train": self.val_from_train,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }

    def drop_unreadable(self, skipped: list[Skipped]) -> "DataSplits":
        """These splits without files found unreadable later (at decode time)."""
        bad = {s.path for s in skipped}
        return replace(
            self,
            train=self.train.without(bad),
            val=self.val.without(bad),
            test=self.test.without(bad) if self.test is not None else None,
            skipped=self.skipped + tuple(skipped),
        )


def scan_class_folders(root: Path, classes: tuple[str, ...] | None = None) -> tuple[ImageSet, list[Skipped]]:
    """Images under `root/<class>/` (any depth). With `classes`, folders map onto those labels."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected <root>/<class>/<image> or a CSV of path,label")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    skipped: list[Skipped] = []
    files: dict[str, list[str]] = {}
    for name in found:
        files[name], bad = image_files(root / name)
        skipped += bad
        if not files[name]:
            skipped.append(Skipped(str(root / name), "empty class folder (no images), ignored"))
    if classes is None:
        classes = tuple(name for name in found if files[name])
    else:
        unknown = [name for name in found if files[name] and name not in classes]
        if unknown:
            raise DataError(
                f"{root}: classes {unknown} are not in the training classes {list(classes)}; "
                f"rename or remove those folders"
            )
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in files.get(name, []):
            paths.append(path)
            labels.append(label)
    return ImageSet(tuple(paths), tuple(labels), tuple(classes)), skipped


def read_csv(csv_path: Path, allow_outside_root: bool = False) -> tuple[dict[str, ImageSet], list[Skipped]]:
    """Image sets from a CSV with columns path,label[,split]; paths relative to the CSV's folder."""
    root = csv_path.parent.resolve()
    rows, skipped = _csv_rows(csv_path, root, allow_outside_root)
    classes = tuple(sorted({label for _, label, split in rows if split == "train"}))
    by_split: dict[str, ImageSet] = {}
    for split in SPLIT_NAMES:
        chosen = [(p, label) for p, label, s in rows if s == split]
        if not chosen:
            continue
        unknown = sorted({label for _, label in chosen if label not in classes})
        if unknown:
            raise DataError(f"{csv_path}: {split} labels {unknown} do not occur in train rows")
        by_split[split] = ImageSet(
            tuple(p for p, _ in chosen), tuple(classes.index(label) for _, label in chosen), classes
        )
    return by_split, skipped


def stratified_split(images: ImageSet, val_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Split into train/val keeping class proportions; every class gets >=1 of each."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(images.labels)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for label, name in enumerate(images.classes):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            raise DataError(
                f"class '{name}' has {len(members)} image(s): a validation split needs at least 2 per "
                f"class; add images or provide a val/ folder"
            )
        members = rng.permutation(members)
        n_val = min(len(members) - 1, max(1, int(round(len(members) * val_fraction))))
        val_idx += members[:n_val].tolist()
        train_idx += members[n_val:].tolist()
    return images.subset(sorted(train_idx)), images.subset(sorted(val_idx))


def expand_image_sources(sources: Sequence[str]) -> list[str]:
    """Files as given, folders replaced by the images found inside them (sorted).

    What a folder holds besides images (a README beside the photos) is logged at info level.
    """
    paths = []
    for source in sources:
        if not Path(source).is_dir():
            paths.append(str(source))
            continue
        found, left_out = image_files(Path(source))
        paths += found
        for item in left_out:
            log.info("%s", item)
    return paths


def image_files(folder: Path) -> tuple[list[str], list[Skipped]]:
    """Image files under `folder` (any depth, sorted), and the other files left out with the reason."""
    found, skipped = [], []
    # followlinks=False: a symlinked folder (or a loop) is never descended into.
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or name.lower() in _JUNK_NAMES:
                continue
            if not is_image_name(name):
                skipped.append(Skipped(str(path), "not an image file name (suffix)"))
                continue
            try:
                ok = path.is_file()
            except OSError as exc:
                ok = False
                skipped.append(Skipped(str(path), f"unreadable ({exc.strerror or exc})"))
                continue
            if ok:
                found.append(str(path))
            else:
                skipped.append(Skipped(str(path), "broken link or not a regular file"))
    return found, skipped


def _csv_rows(csv_path: Path, root: Path, allow_outside_root: bool):
    rows, skipped, seen = [], [], set()
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:  # -sig: Excel writes a BOM
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise DataError(f"{csv_path}: needs a header with columns path,label (and optionally split)")
        for line, row in enumerate(reader, start=2):
            where = f"{csv_path}:{line}"
            if not (row["path"] or "").strip() or not (row["label"] or "").strip():
                skipped.append(Skipped(where, "row has no path or no label"))
                continue
            # resolve absolute paths too: "/root/../elsewhere" must not pass the lexical check below
            path = (root / row["path"]).resolve()
            split = (row.get("split") or "train").strip()
            if not allow_outside_root and not path.is_relative_to(root):
                skipped.append(Skipped(where, f"path {row['path']} is outside {root}; refused"))
            elif split not in SPLIT_NAMES:
                skipped.append(Skipped(where, f"split '{split}' is not one of {SPLIT_NAMES}"))
            elif not path.is_file():
                skipped.append(Skipped(where, f"file {row['path']} not found"))
            elif (str(path), split) in seen:
                skipped.append(Skipped(where, f"duplicate row for {row['path']}"))
            else:
                seen.add((str(path), split))
                rows.append((str(path), row["label"].strip(), split))
    return rows, skipped
