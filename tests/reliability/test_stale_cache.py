"""Cached features are invalidated by exactly what they depend on, and survive concurrent runs.

tests/features/test_feature_cache.py covers a rewritten, touched or added image, the layer,
the input size, the weights and augmented views; here: a removed image, a file swapped for a
copy that kept its size and mtime, the backbone, the normalisation and interpolation, that a
change to one split leaves the other split's entry alone, that unrelated changes keep every
entry, and two processes filling the same entry at once.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os

import numpy as np
import pytest
import torch
from conftest import write_image
from PIL import Image

from transferlab.backbones import create_backbone
from transferlab.data.scan import ImageSet, scan_class_folders
from transferlab.features import ExtractionOptions, cached_features
from transferlab.models.storage import load_checked

CPU = ExtractionOptions(device="cpu")


def _backbone(name: str = "tiny_cnn", seed: int = 0):
    torch.manual_seed(seed)
    return create_backbone(name, "none", include_top=False, input_size=32)


def _images(root) -> ImageSet:
    return scan_class_folders(root)[0]


def _entries(root) -> set[str]:
    return {p.name for p in (root / "cache" / "features").glob("*.safetensors")}


def test_removed_image_is_a_miss_and_the_rest_is_unchanged(image_folder):
    backbone = _backbone()
    first = cached_features(backbone, _images(image_folder), options=CPU)
    gone = image_folder / "blue" / "blue_3.png"
    gone.unlink()
    second = cached_features(backbone, _images(image_folder), options=CPU)
    assert not second.from_cache and str(gone) not in second.paths and len(second.paths) == 23
    kept = [first.paths.index(p) for p in second.paths]
    np.testing.assert_allclose(second.features, first.features[kept], atol=1e-6)


def test_file_swapped_for_a_copy_with_the_same_size_and_mtime_is_a_miss(tmp_path):
    # BMP files of equal dimensions have equal sizes; `cp -p` / `rsync -t` keep the mtime.
    root = tmp_path / "bmp"
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(3):
            Image.new("RGB", (24, 24), colour).save(_mkdir(root / label) / f"{i}.bmp")
    backbone, target = _backbone(), root / "red" / "0.bmp"
    first = cached_features(backbone, _images(root), options=CPU)
    impostor = tmp_path / "impostor.bmp"
    Image.new("RGB", (24, 24), (30, 220, 30)).save(impostor)
    stat = target.stat()
    assert impostor.stat().st_size == stat.st_size
    os.utime(impostor, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(impostor, target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    second = cached_features(backbone, _images(root), options=CPU)
    assert not second.from_cache
    index = second.paths.index(str(target))
    assert not np.allclose(second.features[index], first.features[index])


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("change", ["backbone", "normalisation", "interpolation", "crop"])
def test_backbone_and_preprocessing_changes_are_misses(image_folder, tmp_path, change):
    backbone, images = _backbone(), _images(image_folder)
    base = cached_features(backbone, images, options=CPU)
    pre = backbone.preprocessing
    kwargs = {"options": CPU}
    if change == "backbone":
        backbone = _backbone("mobilenet_v3_small")
    elif change == "normalisation":
        kwargs["preprocessing"] = pre.with_normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    elif change == "interpolation":
        kwargs["preprocessing"] = dataclasses.replace(
            pre, interpolation="bilinear" if pre.interpolation == "bicubic" else "bicubic")
    else:
        kwargs["preprocessing"] = dataclasses.replace(pre, crop_pct=0.5)
    other = cached_features(backbone, images, **kwargs)
    assert not other.from_cache and len(_entries(tmp_path)) == 2
    if other.features.shape == base.features.shape:
        assert not np.allclose(other.features, base.features)
    assert cached_features(backbone, images, **kwargs).from_cache


def test_a_changed_val_image_leaves_the_train_entry_alone(split_folder, tmp_path):
    backbone = _backbone()
    train, val = _images(split_folder / "train"), _images(split_folder / "val")
    cached_features(backbone, train, options=CPU)
    cached_features(backbone, val, options=CPU)
    before = _entries(tmp_path)
    changed = split_folder / "val" / "red" / "0.png"
    write_image(changed, (10, 250, 10), seed=77)
    os.utime(changed, ns=(1, 1))
    assert cached_features(backbone, train, options=CPU).from_cache
    assert not cached_features(backbone, val, options=CPU).from_cache
    after = _entries(tmp_path)
    assert len(after - before) == 1 and len(before & after) == 2  # one new entry; the old ones stay


def test_unrelated_changes_keep_the_entry(image_folder, tmp_path):
    backbone, images = _backbone(), _images(image_folder)
    cached_features(backbone, images, options=CPU)
    (image_folder / "red" / "notes.txt").write_text("not an image")  # beside the images
    write_image(image_folder.parent / "elsewhere" / "x.png", (1, 2, 3))  # another folder
    os.utime(image_folder / "red", ns=(5, 5))  # the folder itself, not a file in it
    other_batching = ExtractionOptions(batch_size=5, device="cpu", progress=False)
    again = cached_features(_backbone(), images, options=other_batching)
    assert again.from_cache and len(_entries(tmp_path)) == 1


def _extract_in_child(root: str, cache: str, barrier, results) -> None:
    from pathlib import Path

    torch.set_num_threads(1)
    backbone, images = _backbone(), _images(Path(root))
    barrier.wait()  # both processes reach the cache together
    result = cached_features(backbone, images, options=CPU, root=Path(cache))
    results.put((result.from_cache, result.features.tobytes()))


def test_two_processes_filling_the_same_entry_leave_one_valid_entry(image_folder, tmp_path):
    cache = tmp_path / "shared-cache"
    context = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
    barrier, queue = context.Barrier(2), context.Queue()
    children = [context.Process(target=_extract_in_child, args=(str(image_folder), str(cache), barrier, queue))
                for _ in range(2)]
    for child in children:
        child.start()
    results = [queue.get(timeout=900) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert sorted(hit for hit, _ in results) == [False, True]  # one computed, the other waited and read it
    assert results[0][1] == results[1][1]
    (entry,) = cache.glob("*.safetensors")
    tensors, _ = load_checked(entry)  # whole and matching its checksum
    assert tensors["features"].shape == (24, 32)
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]
