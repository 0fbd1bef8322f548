"""Multi-layer extraction: one forward pass fills every layer's cache entry, as cached_features would."""

from __future__ import annotations

import numpy as np
import torch

from transferlab.advise.multitap import cached_layer_features, extract_layers, in_forward_order
from transferlab.backbones import create_backbone
from transferlab.data.decode import decode_images
from transferlab.data.scan import scan_class_folders
from transferlab.features import ExtractionOptions, cached_features

CPU = ExtractionOptions(device="cpu")
BATCHES_OF_8 = ExtractionOptions(batch_size=8, device="cpu")


def _backbone():
    torch.manual_seed(0)
    return create_backbone("tiny_cnn", "none", include_top=False, input_size=32)


def test_every_layer_from_one_pass_and_no_hook_left_behind(image_folder):
    backbone, images = _backbone(), scan_class_folders(image_folder)[0]
    calls = []
    counter = backbone.body.stem.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    layers = ["stage1", "stem", None]
    result = cached_layer_features(backbone, images, layers, options=CPU)
    counter.remove()
    # 24 images, one batch, one forward pass for all three layers (besides the 2-image probes
    # that check BatchNorm folding)
    assert [n for n in calls if n != 2] == [24]
    assert list(result) == layers
    assert {k: v.features.shape for k, v in result.items()} == {"stage1": (24, 16), "stem": (24, 8), None: (24, 32)}
    assert all(not m._forward_hooks for m in backbone.body.modules())
    assert all(np.array_equal(v.labels, np.array(images.labels)) for v in result.values())


def test_entries_are_the_ones_cached_features_reads(image_folder):
    backbone, images = _backbone(), scan_class_folders(image_folder)[0]
    swept = cached_layer_features(backbone, images, ["stem", "stage1", None], options=CPU)
    for layer, features in swept.items():
        single = cached_features(backbone, images, layer, options=CPU)
        assert single.from_cache, layer
        np.testing.assert_array_equal(single.features, features.features)
    again = cached_layer_features(_backbone(), images, ["stem", None], options=CPU)
    assert all(f.from_cache for f in again.values())


def test_same_features_as_extracting_each_layer_alone(image_folder):
    backbone, images = _backbone(), scan_class_folders(image_folder)[0]
    pre = backbone.preprocessing
    decoded, _ = decode_images(images.paths, pre.resize_size, pre.interpolation)
    together = extract_layers(backbone, decoded.images, ["stem", "stage1"], options=BATCHES_OF_8)
    for layer in ("stem", "stage1"):
        alone = extract_layers(backbone, decoded.images, [layer], options=BATCHES_OF_8)[layer]
        np.testing.assert_allclose(together[layer], alone, rtol=1e-5, atol=1e-6)
        manual = backbone.features(torch.stack([_eval(img, pre) for img in decoded.images]), layer).detach().numpy()
        np.testing.assert_allclose(alone, manual, rtol=2e-2, atol=2e-2)  # bf16 where the CPU has it


def test_layers_sorted_in_forward_order():
    assert in_forward_order(_backbone(), ["stage2", "stem", "stage1", "stem"]) == ["stem", "stage1", "stage2"]


def _eval(img, pre):
    from transferlab.data.transforms import eval_transform

    return eval_transform(pre)(img)


def test_a_tap_on_a_convolution_sees_its_own_output_not_the_folded_batch_norm(image_folder):
    backbone, images = _backbone(), scan_class_folders(image_folder)[0]
    with torch.no_grad():  # non-trivial statistics, so folding would change stem.0's output
        backbone.body.stem[1].running_mean.uniform_(-1, 1)
        backbone.body.stem[1].running_var.uniform_(0.5, 2)
    pre = backbone.preprocessing
    decoded, _ = decode_images(images.paths, pre.resize_size, pre.interpolation)
    swept = extract_layers(backbone, decoded.images, ["stem.0", "stage1", None], options=BATCHES_OF_8)
    batch = torch.stack([_eval(img, pre) for img in decoded.images])
    for layer in ("stem.0", "stage1", None):
        manual = backbone.features(batch, layer).detach().numpy()
        np.testing.assert_allclose(swept[layer], manual, rtol=2e-2, atol=2e-2)
