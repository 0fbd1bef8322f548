"""decode_images: bad files skipped and reported, good ones kept in order at the working size."""

from __future__ import annotations

import pytest
import torch
from conftest import write_image
from PIL import Image

from transferlab.data import DecodedDataset, decode_images
from transferlab.data.decode import resize_shorter


def test_decode_skips_corrupt_files_keeps_order(tmp_path):
    good = [str(write_image(tmp_path / f"good_{i}.png", (40 * i, 100, 200), size=20 + 4 * i, seed=i))
            for i in range(3)]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    empty = tmp_path / "empty.png"
    empty.touch()
    paths = [good[0], str(corrupt), good[1], str(empty), good[2]]

    decoded, skipped = decode_images(paths, short_side=16, workers=2)

    assert decoded.paths == tuple(good)
    assert [s.path for s in skipped] == [str(corrupt), str(empty)]
    assert all(s.reason and not s.reason.startswith(s.path) for s in skipped)
    assert "empty file" in skipped[1].reason
    assert decoded.short_side == 16
    for tensor in decoded.images:
        assert tensor.dtype == torch.uint8 and tensor.shape[0] == 3 and min(tensor.shape[1:]) == 16


def test_decode_keeps_aspect_ratio(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (60, 30), (1, 2, 3)).save(path)
    decoded, skipped = decode_images([str(path)], short_side=10)
    assert not skipped
    assert tuple(decoded.images[0].shape) == (3, 10, 20)


def test_decoded_pixels_match_the_file(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (16, 16), (12, 34, 56)).save(path)
    decoded, _ = decode_images([str(path)], short_side=16)
    assert decoded.images[0][:, 8, 8].tolist() == [12, 34, 56]


def test_resize_shorter_up_and_down():
    assert resize_shorter(Image.new("RGB", (100, 50)), 25).size == (50, 25)
    assert resize_shorter(Image.new("RGB", (3, 6)), 12).size == (12, 24)
    same = Image.new("RGB", (8, 12))
    assert resize_shorter(same, 8) is same


def test_decoded_dataset_applies_transform_and_checks_lengths():
    images = [torch.zeros(3, 4, 4, dtype=torch.uint8), torch.ones(3, 4, 4, dtype=torch.uint8)]
    dataset = DecodedDataset(images, [0, 1], transform=lambda t: t.float() * 2)
    assert len(dataset) == 2
    image, label = dataset[1]
    assert label == 1 and image.dtype == torch.float32 and float(image.max()) == 2.0
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        DecodedDataset(images, [0], transform=lambda t: t)
