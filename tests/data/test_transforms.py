"""Eval transform, normalisation, grayscale models, and the training augmentation presets."""

from __future__ import annotations

import pytest
import torch

from transferlab.backbones.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from transferlab.data import eval_transform, normalise
from transferlab.data.augment import PRESETS, train_transform
from transferlab.errors import UnknownNameError

PRE = Preprocessing(input_size=32, crop_pct=0.875, interpolation="bilinear")
GRAY = Preprocessing(input_size=32, mean=(0.5,), std=(0.5,))


def _noise(height: int = 45, width: int = 60, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


def _constant(values, height: int = 40, width: int = 50) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8)[:, None, None].expand(3, height, width).contiguous()


def test_eval_transform_shape_and_dtype():
    out = eval_transform(PRE)(_noise())
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


def test_eval_transform_normalises_the_mean_to_zero():
    mean_image = _constant([round(m * 255) for m in IMAGENET_MEAN])
    assert eval_transform(PRE)(mean_image).abs().max() < 0.01
    white = eval_transform(PRE)(_constant([255, 255, 255]))
    expected = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    torch.testing.assert_close(white[:, 16, 16], expected)


def test_eval_transform_centre_crops_after_resize():
    image = torch.zeros(3, 36, 72, dtype=torch.uint8)  # resize_size 36: no resize, crop the middle
    image[:, :, 18:54] = 255
    out = eval_transform(PRE)(image)
    assert out.shape == (3, 32, 32)
    torch.testing.assert_close(out, eval_transform(PRE)(_constant([255, 255, 255], 36, 36)))


def test_grayscale_preprocessing_gives_one_channel():
    out = eval_transform(GRAY)(_constant([255, 255, 255]))
    assert out.shape == (1, 32, 32)
    # (1 - 0.5) / 0.5; torchvision's uint8 grayscale rounds white down to 254
    torch.testing.assert_close(out, torch.ones(1, 32, 32), rtol=0, atol=0.01)


def test_normalise_uint8_and_float_agree():
    batch = torch.stack([_noise(32, 32, seed=i) for i in range(2)])
    from_uint8 = normalise(batch, PRE)
    torch.testing.assert_close(from_uint8, normalise(batch.float() / 255.0, PRE))
    expected = (batch[1, 2, 5, 7].item() / 255.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]
    assert from_uint8[1, 2, 5, 7].item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("preset", ["light", "medium", "heavy"])
def test_presets_shape_and_randomness(preset):
    torch.manual_seed(0)
    transform, image = train_transform(PRE, preset), _noise()
    first, second = transform(image), transform(image)
    assert first.shape == second.shape == (3, 32, 32) and first.dtype == torch.float32
    assert not torch.equal(first, second)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_on_grayscale_models(preset):
    assert train_transform(GRAY, preset)(_noise()).shape == (1, 32, 32)


def test_none_preset_equals_eval():
    image = _noise()
    for _ in range(2):
        torch.testing.assert_close(train_transform(PRE, "none")(image), eval_transform(PRE)(image),
                                   rtol=0, atol=0)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="augmentation preset 'lite'") as info:
        train_transform(PRE, "lite")
    assert all(name in str(info.value) for name in PRESETS)


def test_tta_views_are_the_eval_crop_its_mirror_and_the_corner_crops():
    from transferlab.data.transforms import eval_transform, tta_views

    pre = PRE
    image = torch.randint(0, 256, (3, pre.resize_size, pre.resize_size + 12), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    centre = eval_transform(pre)(image)
    assert torch.equal(tta_views(pre, "none")(image), centre[None])
    flip = tta_views(pre, "flip")(image)
    assert flip.shape == (2, 3, 32, 32) and torch.equal(flip[1], centre.flip(-1))
    crops = tta_views(pre, "crops")(image)
    assert crops.shape == (6, 3, 32, 32) and not torch.equal(crops[2], crops[3])


def test_an_unknown_tta_mode_lists_the_known_ones():
    from transferlab.data.transforms import tta_views

    with pytest.raises(UnknownNameError, match="flip"):
        tta_views(PRE, "flips")
