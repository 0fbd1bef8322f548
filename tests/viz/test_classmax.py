"""Activation maximisation (seeded, improving) and the real images that excite a class most."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from transferlab.backbones import Preprocessing, create_backbone
from transferlab.errors import TransferlabError
from transferlab.viz import (
    SynthesisSettings,
    class_representatives,
    receptive_field_of,
    score_images,
    synthesise_channels,
    synthesise_class,
)
from transferlab.viz.representatives import box_layer


def _write_image(path, colour, size=40, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    array = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 20, (size, size, 3)), 0, 255)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path

FAST = SynthesisSettings(steps=12, size=32, lr=0.1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_backbone("tiny_cnn", weights="none").eval()


def test_class_synthesis_raises_the_logit_and_is_seeded(tiny):
    first = synthesise_class(tiny, tiny.preprocessing, 3, "three", FAST)
    again = synthesise_class(tiny, tiny.preprocessing, 3, "three", FAST)
    other = synthesise_class(tiny, tiny.preprocessing, 3, "three", SynthesisSettings(12, 32, 0.1, seed=1))
    assert first.image.shape == (32, 32, 3) and first.image.dtype == np.uint8
    assert first.history.shape == (12,) and first.history[-3:].mean() > first.history[:3].mean()
    assert first.target == "class 3: three" and 0.0 <= first.probability <= 1.0
    np.testing.assert_array_equal(first.image, again.image)
    assert not np.array_equal(first.image, other.image)
    start = tiny(torch.full((1, 3, 32, 32), 0.0))[0, 3].item()  # the sigmoid's mid-grey start, normalised
    assert first.final > start


def test_channel_synthesis_is_one_batch_and_checks_its_inputs(tiny):
    results = synthesise_channels(tiny, tiny.preprocessing, "stage1", [0, 5, 7], FAST)
    assert [r.target for r in results] == ["stage1 channel 0", "stage1 channel 5", "stage1 channel 7"]
    assert all(r.history[-1] > r.history[0] for r in results)
    with pytest.raises(TransferlabError, match="16 channels; channel 99"):
        synthesise_channels(tiny, tiny.preprocessing, "stage1", [99], FAST)
    with pytest.raises(TransferlabError, match="no spatial output"):
        synthesise_channels(tiny, tiny.preprocessing, "head", [0], FAST)
    assert not any(m._forward_hooks for m in tiny.modules())


def test_grey_models_synthesise_grey_images():
    from transferlab.models.lookup import build_named_model

    model = build_named_model("mnist-conv").eval()
    result = synthesise_class(model, model.preprocessing, 7, settings=SynthesisSettings(steps=3))
    assert result.image.shape == (28, 28, 3)
    assert (result.image[..., 0] == result.image[..., 2]).all()


class _Redness(nn.Module):
    """Class 0: how red the image is; class 1: how blue (a 3x3 conv map, pooled)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 2, 3, padding=1, bias=False)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[0, 0, 1, 1] = 1.0
            self.features.weight[1, 2, 1, 1] = 1.0

    def forward(self, x):
        return torch.relu(self.features(x)).mean(dim=(2, 3)) * 10


def test_representatives_are_the_best_scored_images_with_a_box_inside(image_folder):
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))
    pre = Preprocessing(24, 1.0, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    model = _Redness().eval()
    reps, skipped = class_representatives(model, pre, paths, 0, count=4)
    assert not skipped and len(reps) == 4
    assert all("/red/" in r.path for r in reps)
    scores = [r.score for r in reps]
    assert scores == sorted(scores, reverse=True)
    all_scores, _, kept, _ = score_images(model, pre, paths, 0)
    assert scores[0] == pytest.approx(float(all_scores.max()))
    for rep in reps:
        top, left, bottom, right = rep.box
        assert (bottom - top, right - left) == (3, 3) or top == 0 or left == 0 or bottom == 24 or right == 24
        assert rep.display.shape == (24, 24, 3) and rep.heatmap.shape == (24, 24)


def test_box_layer_stays_within_half_the_image_and_skips_unreadable_files(tiny, tmp_path):
    assert receptive_field_of(tiny, "stage2", 32).size == (15, 15)  # stem 3, stage1 7, stage2 15
    assert box_layer(tiny, 32) == "stage2" and box_layer(tiny, 24) == "stage1"  # at most half the side
    good = [str(_write_image(tmp_path / f"{i}.png", (200, 40 * i, 30), seed=i)) for i in range(3)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    reps, skipped = class_representatives(tiny, tiny.preprocessing, [*good, str(bad)], 2, count=2)
    assert [s.path for s in skipped] == [str(bad)] and len(reps) == 2
    assert all(r.layer == "stage2" and r.heatmap_layer == "stage2" for r in reps)
    for rep in reps:
        top, left, bottom, right = rep.box
        assert 0 <= top < bottom <= 32 and 0 <= left < right <= 32 and bottom - top <= 15
        assert set(rep.to_dict()) >= {"image", "score", "probability", "box", "unit", "layer"}
