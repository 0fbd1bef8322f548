"""MixUp and CutMix as batch transforms: soft labels, neighbours, one of the two per batch, the preview."""

from __future__ import annotations

import pytest
import torch

from transferlab.backbones.preprocessing import Preprocessing
from transferlab.data.mix import batch_mix, describe_mix, mixed_caption, preview_mixed
from transferlab.errors import TransferlabError

PRE = Preprocessing(input_size=16, crop_pct=1.0, interpolation="bilinear",
                    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Four constant images, each filled with its own index, labels 0, 1, 2, 0."""
    images = torch.arange(4, dtype=torch.float32)[:, None, None, None].expand(4, 3, 8, 8).clone()
    return images, torch.tensor([0, 1, 2, 0])


def test_off_is_none_and_a_negative_alpha_is_one_line():
    assert batch_mix(0.0, 0.0, 3) is None and describe_mix(0, 0) == "none"
    with pytest.raises(TransferlabError, match=r"^cutmix alpha must be a number >= 0 \(0: off\), not -1$"):
        batch_mix(0.2, -1, 3)


def test_mixup_blends_each_image_with_its_neighbour_and_the_labels_alike():
    images, labels = _batch()
    torch.manual_seed(0)
    mixed, soft = batch_mix(0.4, 0.0, 3)(images, labels)
    assert soft.shape == (4, 3) and torch.allclose(soft.sum(1), torch.ones(4))
    lam = float(soft[1, 1])  # image 1 keeps lam of itself, takes 1 - lam of image 0
    assert 0 < lam < 1 and torch.allclose(soft[1], torch.tensor([1 - lam, lam, 0.0]))
    assert torch.allclose(mixed[1], torch.full((3, 8, 8), lam * 1 + (1 - lam) * 0))


def test_cutmix_pastes_a_box_and_mixes_labels_by_its_area():
    images, labels = _batch()
    torch.manual_seed(1)
    mixed, soft = batch_mix(0.0, 1.0, 3)(images, labels)
    kept = float((mixed[2] == 2).float().mean())  # image 2 keeps this share of its pixels
    assert 0 < kept < 1 and set(mixed[2].unique().tolist()) == {1.0, 2.0}
    assert soft[2, 2] == pytest.approx(kept) and soft[2, 1] == pytest.approx(1 - kept)


def test_both_on_draw_one_of_the_two_per_batch():
    images, labels = _batch()
    mix, kinds = batch_mix(0.4, 1.0, 3), set()
    torch.manual_seed(0)
    for _ in range(20):
        mixed, _ = mix(images, labels)
        kinds.add("cutmix" if set(mixed[2].unique().tolist()) <= {1.0, 2.0} else "mixup")
    assert kinds == {"mixup", "cutmix"}
    assert describe_mix(0.4, 1.0) == "mixup 0.4 or cutmix 1 (one per batch)"


def test_caption_names_the_heaviest_classes():
    assert mixed_caption(torch.tensor([0.25, 0.0, 0.75]), ["cat", "dog", "owl"]) == "owl 0.75 + cat 0.25"
    assert mixed_caption(torch.tensor([1.0, 0.0]), ["cat", "dog"]) == "cat 1.00"


def test_preview_mixes_as_training_does_and_is_seeded():
    images = [torch.full((3, 16, 16), v, dtype=torch.uint8) for v in (0, 250)]
    mix = batch_mix(0.4, 1.0, 2)
    rows = preview_mixed(images, [0, 1], PRE, "none", mix, views=3, seed=4)
    assert len(rows) == 2 and all(len(row) == 3 for row in rows)
    image, soft = rows[1][0]
    assert image.shape == (16, 16, 3) and image.dtype == torch.uint8 and soft.shape == (2,)
    assert 0 < float(soft[1]) < 1  # image 1 mixed with image 0
    again = preview_mixed(images, [0, 1], PRE, "none", mix, views=3, seed=4)
    assert all(torch.equal(a[0], b[0]) for row, other in zip(rows, again) for a, b in zip(row, other))
