"""`finetune`'s defaults: phase 1 on at most `HEAD_START_IMAGES` training images; the rates by depth."""

from __future__ import annotations

import pytest
import torch

from transferlab.config import TrainConfig
from transferlab.data.decode import DecodedImages
from transferlab.data.scan import ImageSet
from transferlab.strategies import finetune


def _images(n_per_class: int) -> tuple[ImageSet, DecodedImages]:
    paths = tuple(f"/d/{c}/{i}.png" for c in "ab" for i in range(n_per_class))
    labels = tuple(0 if "/a/" in p else 1 for p in paths)
    pixels = tuple(torch.full((3, 4, 4), i, dtype=torch.uint8) for i in range(len(paths)))
    return ImageSet(paths, labels, ("a", "b")), DecodedImages(paths[1:], pixels[1:], 4)  # the first did not decode


def test_phase_one_sees_a_stratified_subsample_of_large_training_sets(monkeypatch):
    monkeypatch.setattr(finetune, "HEAD_START_IMAGES", 6)
    images, decoded = _images(10)
    subset, pixels = finetune._phase_one_images(images, decoded, seed=0)
    assert len(subset) == 6 and sorted(subset.counts().values()) == [3, 3]
    assert set(pixels.paths) <= set(subset.paths) and len(pixels.paths) >= 5  # pixels stay with their paths
    for path, image in zip(pixels.paths, pixels.images):
        assert int(image[0, 0, 0]) == images.paths.index(path)


def test_phase_one_keeps_a_small_training_set_whole(monkeypatch):
    images, decoded = _images(10)
    assert finetune._phase_one_images(images, decoded, seed=0) == (images, decoded)


@pytest.mark.parametrize("given, rates", [
    ({}, (2e-4, 0.5)),                                            # the last two groups, discriminative rates
    ({"unfreeze": -1}, (5e-4, 1.0)),                              # every layer: one rate
    ({"unfreeze": -1, "lr_mult": 0.5}, (5e-4, 0.5)),              # a given multiplier stays
    ({"unfreeze": -1, "lr": 1e-3}, (1e-3, 1.0)),                  # a given rate stays
    ({"unfreeze": -1, "unfreeze_from": "blocks.3"}, (2e-4, 0.5)),  # from a layer: not every layer
])
def test_default_rates_follow_the_depth_unfrozen(given, rates):
    assert finetune.default_rates(TrainConfig(data="x", strategy="finetune", **given)) == rates
