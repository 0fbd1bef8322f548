"""The on-disk feature cache: hits for unchanged inputs, misses for anything that changes them."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import write_image

from transferlab.backbones import create_backbone
from transferlab.data.scan import scan_class_folders
from transferlab.features import AugmentedView, ExtractionOptions, cached_features, feature_key

CPU = ExtractionOptions(device="cpu")


def _backbone(seed: int = 0):
    torch.manual_seed(seed)
    return create_backbone("tiny_cnn", "none", include_top=False, input_size=32)


def _images(root):
    return scan_class_folders(root)[0]


def _entries(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "features").glob("*.safetensors"))


def test_second_call_is_a_hit_with_identical_features(image_folder, tmp_path):
    backbone, images = _backbone(), _images(image_folder)
    first = cached_features(backbone, images, options=CPU)
    second = cached_features(_backbone(), images, options=CPU)  # a new object with equal weights
    assert not first.from_cache and second.from_cache
    assert first.features.shape == (24, 32) and first.features.dtype == np.float32
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.paths == second.paths == images.paths
    assert len(_entries(tmp_path)) == 1


def test_rewritten_image_is_a_miss(image_folder):
    backbone, images = _backbone(), _images(image_folder)
    first = cached_features(backbone, images, options=CPU)
    changed = image_folder / "red" / "red_0.png"
    write_image(changed, (30, 220, 30), size=28, seed=99)  # other bytes, other size
    os.utime(changed, ns=(1, 1))  # and another mtime, whatever the clock's resolution
    second = cached_features(backbone, images, options=CPU)
    assert not second.from_cache
    index = images.paths.index(str(changed))
    assert not np.allclose(first.features[index], second.features[index])
    np.testing.assert_array_equal(np.delete(first.features, index, 0), np.delete(second.features, index, 0))


def test_touched_image_with_same_bytes_is_a_miss(image_folder):
    backbone, images = _backbone(), _images(image_folder)
    cached_features(backbone, images, options=CPU)
    os.utime(images.paths[3], ns=(10**9, 10**9))
    assert not cached_features(backbone, images, options=CPU).from_cache


def test_added_image_is_a_miss(image_folder):
    backbone = _backbone()
    cached_features(backbone, _images(image_folder), options=CPU)
    write_image(image_folder / "blue" / "extra.png", (30, 30, 220), seed=50)
    result = cached_features(backbone, _images(image_folder), options=CPU)
    assert not result.from_cache and len(result.paths) == 25


@pytest.mark.parametrize("change", ["layer", "input_size", "weights", "augment_view"])
def test_anything_that_changes_the_features_is_a_miss(image_folder, tmp_path, change):
    backbone, images = _backbone(), _images(image_folder)
    base = cached_features(backbone, images, options=CPU)
    kwargs = {"options": CPU}
    if change == "layer":
        kwargs["layer"] = "stage1"
    elif change == "input_size":
        kwargs["preprocessing"] = backbone.preprocessing.at_size(40)
    elif change == "weights":
        backbone = _backbone(seed=1)
    else:
        kwargs["view"] = AugmentedView("light", 1)
    other = cached_features(backbone, images, **kwargs)
    assert not other.from_cache and len(_entries(tmp_path)) == 2
    assert other.features.shape[1] == (16 if change == "layer" else 32)
    if other.features.shape == base.features.shape:
        assert not np.allclose(other.features, base.features)
    assert cached_features(backbone, images, **kwargs).from_cache  # and the new entry is reused


def test_weights_from_a_file_change_the_key(image_folder, tmp_path):
    from safetensors.torch import save_file

    backbone, images = _backbone(), _images(image_folder)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in create_backbone("tiny_cnn", "none").body.state_dict().items()}, str(path))
    from_file = create_backbone("tiny_cnn", str(path), include_top=False, input_size=32)
    assert from_file.weights_id.startswith("file:tiny.safetensors:")
    assert feature_key(backbone, None, backbone.preprocessing, images, CPU) != feature_key(
        from_file, None, from_file.preprocessing, images, CPU
    )


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_entry_is_rebuilt_not_used(image_folder, tmp_path, damage):
    backbone, images = _backbone(), _images(image_folder)
    first = cached_features(backbone, images, options=CPU)
    (entry,) = _entries(tmp_path)
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x08" + b"\x00" * 7 + b"{}")
    rebuilt = cached_features(backbone, images, options=CPU)
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(first.features, rebuilt.features)
    again = cached_features(backbone, images, options=CPU)
    assert again.from_cache  # the rebuilt entry is whole again
    np.testing.assert_array_equal(first.features, again.features)


def test_unreadable_image_is_skipped_and_reported(image_folder):
    bad = image_folder / "red" / "broken.png"
    bad.write_bytes(b"not a png")
    images = _images(image_folder)
    result = cached_features(_backbone(), images, options=CPU)
    assert str(bad) not in result.paths and len(result.paths) == len(result.labels) == 24
    assert [s.path for s in result.skipped] == [str(bad)]
    cached = cached_features(_backbone(), images, options=CPU)
    assert cached.from_cache and [s.path for s in cached.skipped] == [str(bad)]


def test_extraction_leaves_the_backbone_trainable(image_folder):
    # Fine-tuning trains the very backbone whose features were just extracted and cached.
    backbone, images = _backbone(), _images(image_folder)
    cached_features(backbone, images, options=CPU)
    for param in backbone.parameters():
        param.requires_grad_(True)
    backbone.train()
    backbone.features(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in backbone.parameters())
