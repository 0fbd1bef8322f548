"""What `visualize` looks inside: runs or names, class lookup, images prepared as evaluation does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from transferlab.backbones import Backbone, Preprocessing, imagenet_class_names
from transferlab.data.decode import image_to_input
from transferlab.errors import BadImageError, TransferlabError, UnknownNameError, WeightsError
from transferlab.viz import load_subject, prepare_image, resolve_class

IMAGENET = imagenet_class_names(1000)


@pytest.mark.parametrize(("wanted", "index"), [("tabby", 281), ("Tabby Cat", 281), ("281", 281), (281, 281),
                                               ("espresso", 967), ("tiger cat", 282)])
def test_resolve_imagenet_classes(wanted, index):
    assert resolve_class(IMAGENET, wanted) == index


def test_resolve_class_errors():
    with pytest.raises(TransferlabError, match="'cat' is ambiguous: .*281 tabby.*give more of the name"):
        resolve_class(IMAGENET, "cat")
    with pytest.raises(TransferlabError, match="out of range: the model has 1000 classes"):
        resolve_class(IMAGENET, "1000")
    with pytest.raises(UnknownNameError, match="unknown class 'rde': did you mean red"):
        resolve_class(("blue", "red"), "rde")
    assert resolve_class(("blue", "red"), "RED") == 1


def test_backbone_names_with_random_weights_and_specs():
    subject = load_subject("tiny_cnn", "none", input_size=48)
    assert isinstance(subject.model, Backbone) and not subject.model.training
    assert subject.classes[:2] == ("class 0", "class 1") and len(subject.classes) == 1000
    assert subject.input_size == 48 and "random" in subject.label and subject.run_dir is None
    assert subject.blank_input().shape == (1, 3, 48, 48)
    spec = load_subject("conv8-pool-flatten-dense16")  # specs default to random weights
    assert len(spec.classes) == 10 and "features.conv2d_1" in spec.layer_names()


def test_missing_weights_and_folders_that_are_not_runs(tmp_path):
    with pytest.raises(WeightsError, match="--weights none"):
        load_subject("tiny_cnn")  # no ImageNet weights at all
    with pytest.raises(WeightsError, match="only efficientnet_lite0/1/2 have ImageNet weights"):
        load_subject("resnet50")  # offline: not in any cache
    with pytest.raises(TransferlabError, match="not a finished run"):
        load_subject(tmp_path)
    with pytest.raises(UnknownNameError, match="did you mean tiny_cnn"):
        load_subject("tiny_cn", "none")


def test_prepare_image_matches_evaluation_exactly(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 256, (40, 70, 3)).astype(np.uint8)).save(path)
    pre = Preprocessing(32, 0.875, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    prepared = prepare_image(path, pre)
    with Image.open(path) as image:
        expected = image_to_input(image.convert("RGB"), pre)
    torch.testing.assert_close(prepared.tensor, expected)
    assert prepared.display.shape == (32, 32, 3) and prepared.display.dtype == np.uint8
    torch.testing.assert_close(torch.from_numpy(prepared.display).permute(2, 0, 1).float() / 255 * 2 - 1,
                               prepared.tensor, atol=1e-6, rtol=0)
    with pytest.raises(BadImageError, match="missing.png: file not found"):
        prepare_image(tmp_path / "missing.png", pre)
