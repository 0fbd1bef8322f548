"""`load_splits`: a folder, a CSV or a built-in name -> train/val(/test) image sets."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from .builtin import builtin_folder, is_builtin
from .scan import DataSplits, ImageSet, Skipped, read_csv, report_skips, scan_class_folders, stratified_split

log = logging.getLogger(__name__)


def load_splits(
    source: str | Path,
    val_fraction: float = 0.2,
    seed: int = 0,
    allow_outside_root: bool = False,
) -> DataSplits:
    """Resolve a dataset into train/val(/test) splits.

    Args:
        source: a folder (`root/<class>/*` or `root/{train,val,test}/<class>/*`), a CSV with
            columns path,label[,split], or a built-in name (`digits`, `mnist5k`, `lfw-faces`).
        val_fraction: share of each class held out for validation when there is no `val` split.
        seed: seed of that split.
        allow_outside_root: let CSV rows point outside the CSV's folder.

    Raises:
        DataError: the dataset cannot be trained on (missing, <2 classes, unknown val classes...).
    """
    path = Path(source)
    if not path.exists() and is_builtin(str(source)):
        path, name = builtin_folder(str(source)), str(source)
    else:
        name = path.name
    if not path.exists():
        raise DataError(f"{source}: no such folder, CSV file or built-in dataset (digits, mnist5k, lfw-faces)")
    if path.is_file():
        sets, skipped = read_csv(path, allow_outside_root)
    else:
        sets, skipped = _scan_splits(path)
    return _assemble(name, sets, skipped, val_fraction, seed, source)


def _scan_splits(root: Path) -> tuple[dict[str, ImageSet], list[Skipped]]:
    if not (root / "train").is_dir():
        images, skipped = scan_class_folders(root)
        return {"train": images}, skipped
    train, skipped = scan_class_folders(root / "train")
    sets = {"train": train}
    for split in ("val", "test"):
        if (root / split).is_dir():
            sets[split], more = scan_class_folders(root / split, classes=train.classes)
            skipped += more
    return sets, skipped


def _assemble(name, sets, skipped, val_fraction, seed, source) -> DataSplits:
    train = sets.get("train")
    if train is None or len(train) == 0:
        raise DataError(f"{source}: no training images found; expected <root>/<class>/<image>")
    if len(train.classes) < 2:
        raise DataError(
            f"{source}: found {len(train.classes)} class ({', '.join(train.classes)}); "
            f"classification needs at least 2 class folders"
        )
    val, from_train = sets.get("val"), False
    if val is None or len(val) == 0:
        train, val = stratified_split(train, val_fraction, seed)
        from_train = True
    for name_, count in train.counts().items():
        if count == 0:
            raise DataError(f"{source}: class '{name_}' has no training images")
    splits = DataSplits(name, train, val, sets.get("test"), tuple(skipped), from_train)
    report_skips(skipped)
    return splits


def labelled_images(source: str | Path, classes: tuple[str, ...]) -> ImageSet:
    """Every labelled image of a folder (`root/<class>/*`) or CSV, labels mapped onto `classes`.

    For scoring a trained model on new data: the folder's class names must be among `classes`
    (a class may be missing); a CSV's `split` column is ignored.

    Raises:
        DataError: the source does not exist or names a class the model does not know.
    """
    path = Path(source)
    if path.is_file():
        sets, skipped = read_csv(path)
        report_skips(skipped)
        pairs = [(p, s.classes[i]) for s in sets.values() for p, i in zip(s.paths, s.labels)]
        unknown = sorted({name for _, name in pairs} - set(classes))
        if unknown:
            raise DataError(f"{path}: labels {unknown} are not classes of this model {list(classes)}")
        return ImageSet(tuple(p for p, _ in pairs), tuple(classes.index(n) for _, n in pairs), classes)
    if not path.is_dir():
        raise DataError(f"{source}: no such folder or CSV file of labelled images")
    images, skipped = scan_class_folders(path, classes=classes)
    report_skips(skipped)
    return images
