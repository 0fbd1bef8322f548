"""Frozen-prefix maps: computed once, reused from the cache, recomputed when a file changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.conftest import write_image
from transferlab.backbones import create_backbone
from transferlab.data import load_splits
from transferlab.data.augment import train_transform
from transferlab.data.decode import decode_images
from transferlab.data.transforms import eval_batch
from transferlab.features import ExtractionOptions
from transferlab.features import prefix as prefix_module
from transferlab.features.prefix import cached_prefix_maps
from transferlab.models.freezing import freeze_except, trainable_groups
from transferlab.models.split import split_backbone

CPU = ExtractionOptions(device="cpu", engine="torch")


def _setup(folder):
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    freeze_except(backbone, trainable_groups(backbone, 1))
    images = load_splits(str(folder)).train
    decoded, _ = decode_images(images.paths, backbone.preprocessing.resize_size, backbone.preprocessing.interpolation)
    return backbone, split_backbone(backbone), images, decoded


def test_clean_maps_are_the_prefix_output_and_come_from_the_cache_the_second_time(split_folder, monkeypatch):
    backbone, split, images, decoded = _setup(split_folder)
    maps = cached_prefix_maps(backbone, split, images, decoded, None, None, CPU)
    assert maps.dtype == np.float16 and len(maps) == len(decoded.images)
    with torch.no_grad():
        expected = split.prefix.eval()(eval_batch(decoded.images, backbone.preprocessing))
    np.testing.assert_allclose(maps.astype(np.float32), expected.numpy(), rtol=1e-2, atol=1e-2)

    def refuse(*args, **kwargs):
        raise AssertionError("the prefix ran again on an unchanged split")

    monkeypatch.setattr(prefix_module, "_run_prefix", refuse)
    again = cached_prefix_maps(backbone, split, images, decoded, None, None, CPU)
    np.testing.assert_array_equal(again, maps)


def test_a_changed_file_recomputes_the_maps(split_folder):
    backbone, split, images, decoded = _setup(split_folder)
    before = np.array(cached_prefix_maps(backbone, split, images, decoded, None, None, CPU))
    write_image(Path(images.paths[0]), (255, 255, 0), seed=7)
    images = load_splits(str(split_folder)).train
    decoded, _ = decode_images(images.paths, backbone.preprocessing.resize_size, backbone.preprocessing.interpolation)
    after = cached_prefix_maps(backbone, split, images, decoded, None, None, CPU)
    assert not np.array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1:], after[1:])


def test_views_are_reproducible_differ_from_each_other_and_leave_the_global_rng_alone(split_folder, tmp_path,
                                                                                       monkeypatch):
    backbone, split, images, decoded = _setup(split_folder)
    transform = train_transform(backbone.preprocessing, "medium")
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = np.array(cached_prefix_maps(backbone, split, images, decoded, ("medium", 0, 5), transform, CPU))
    assert torch.equal(torch.random.get_rng_state(), state)
    second = cached_prefix_maps(backbone, split, images, decoded, ("medium", 1, 5), transform, CPU)
    assert not np.array_equal(first, second)
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(tmp_path / "cold"))
    redrawn = cached_prefix_maps(backbone, split, images, decoded, ("medium", 0, 5), transform, CPU)
    np.testing.assert_array_equal(redrawn, first)
