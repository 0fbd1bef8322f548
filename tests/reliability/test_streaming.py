"""Feature extraction streams: a bounded number of images is decoded at a time, with the same result.

The memory itself is measured by bench/load.py (2,000 vs 20,000 images); this checks the
mechanism cheaply: the cache decodes chunk by chunk (never the whole dataset), unreadable files
inside any chunk are skipped, and the features equal a single all-at-once pass.
"""

from __future__ import annotations

import numpy as np
import torch

from transferlab.backbones import create_backbone
from transferlab.data.decode import decode_images
from transferlab.data.scan import scan_class_folders
from transferlab.features import cache
from transferlab.features.extract import ExtractionOptions, extract_features


def test_streamed_features_equal_one_pass_and_decode_a_chunk_at_a_time(image_folder, monkeypatch):
    (image_folder / "red" / "red_5.png").write_bytes(b"\x89PNG broken")  # unreadable, mid-dataset
    images = scan_class_folders(image_folder)[0]
    torch.manual_seed(0)
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    pre = backbone.preprocessing

    decoded, _ = decode_images(images.paths, pre.resize_size, pre.interpolation)
    expected = extract_features(backbone, decoded.images, None, pre, ExtractionOptions(batch_size=4, device="cpu"))

    sizes = []

    def recording_decode(paths, *args, **kwargs):
        sizes.append(len(paths))
        return decode_images(paths, *args, **kwargs)

    monkeypatch.setattr(cache, "CHUNK_BYTES", 1)  # the smallest chunk: one batch of images
    monkeypatch.setattr(cache, "decode_images", recording_decode)
    streamed = cache.cached_features(backbone, images, options=ExtractionOptions(batch_size=4, device="cpu"))

    assert max(sizes) == 4 and sum(sizes) == len(images) == 24
    assert streamed.paths == decoded.paths and len(streamed.paths) == 23
    assert [s.path for s in streamed.skipped] == [str(image_folder / "red" / "red_5.png")]
    np.testing.assert_allclose(streamed.features, expected, atol=1e-5)
    np.testing.assert_array_equal(streamed.labels, [images.labels[images.paths.index(p)] for p in streamed.paths])
