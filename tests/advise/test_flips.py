"""The mirror test: fine-tuning flips images only where mirroring keeps their class."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fixed_now
from PIL import Image

from transferlab.advise import AdviseOptions, advise
from transferlab.advise.flips import FlipTest
from transferlab.backbones import BackboneChoice
from transferlab.features import ExtractionOptions


def _stripes(path, rising: bool, seed: int) -> None:
    """Diagonal stripes, rising ('/') or falling ('\\'): a mirror image is the other class."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:24, :24]
    phase = rng.integers(0, 6)
    stripes = (((x + y) if rising else (x - y)) + phase) % 6 < 3
    array = np.repeat((stripes * 200 + rng.normal(20, 10, stripes.shape))[..., None], 3, axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def stripes_folder(tmp_path):
    root = tmp_path / "stripes"
    for split, count in (("train", 15), ("val", 4)):
        for label, rising in (("rising", True), ("falling", False)):
            for i in range(count):
                _stripes(root / split / label / f"{i}.png", rising, seed=(0 if split == "train" else 100) + i)
    return root


@pytest.fixture
def trial_always(monkeypatch):
    from transferlab.advise import plan

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)


def _advise(data, weights):
    return advise(str(data), BackboneChoice("tiny_cnn", weights, 32),
                  AdviseOptions(views=1, now=fixed_now, extraction=ExtractionOptions(device="cpu")))


def test_data_whose_mirror_image_is_another_class_is_fine_tuned_without_flips(stripes_folder, tiny_weights,
                                                                              trial_always):
    advice = _advise(stripes_folder, tiny_weights)
    sentence = next(r for r in advice.reasons if r.startswith("Mirror test"))
    assert "mirroring changes the class" in sentence, sentence
    assert advice.trial.settings["augment"] == "light-noflip"


def test_data_whose_mirror_image_keeps_its_class_is_fine_tuned_with_flips(split_folder, tiny_weights, trial_always):
    advice = _advise(split_folder, tiny_weights)
    assert any("mirroring keeps the class" in r for r in advice.reasons)
    assert advice.trial.settings["augment"] == "light"


def test_without_a_trial_the_mirror_test_still_weighs_test_time_flips(split_folder, tiny_weights):
    advice = _advise(split_folder, tiny_weights)  # colour classes: the frozen pick is perfect, no trial
    assert advice.trial is None and any(r.startswith("Mirror test") for r in advice.reasons)
    assert "tta" not in advice.plan.settings  # nothing left for the mirror images to win


def _session(budget: float | None, held_out_seconds: float = 5.0):
    from types import SimpleNamespace

    from transferlab.advise.budget import Clock

    return SimpleNamespace(clock=Clock(budget, fixed_now), reasons=[], held_out_seconds=lambda: held_out_seconds)


@pytest.mark.parametrize("gain, keeps, budget, tta", [(2, True, 100.0, "flip"), (1, True, 100.0, None),
                                                      (3, False, 100.0, None), (2, True, 29.0, None)])
def test_a_frozen_plan_averages_over_flips_where_the_mirror_test_gains_images(gain, keeps, budget, tta):
    from transferlab.advise.advice import Plan
    from transferlab.advise.core import _with_test_time_views

    s = _session(budget)
    flips = FlipTest(0.90, 0.90 if keeps else 0.50, 100, 0.01, 0.92, gain)
    plan = _with_test_time_views(s, Plan("linear", {"layer": None}, 20.0), flips)  # + 10 s for two views of val
    assert plan.settings.get("tta") == tta
    assert plan.estimated_seconds == (30.0 if tta else 20.0)
    assert any("Test-time views" in r for r in s.reasons) is (tta is not None)
    assert _with_test_time_views(s, Plan("linear", {}, 20.0), None).settings == {}  # no mirror test


@pytest.mark.parametrize("flip, crops, budget, tta", [(2, 4, 100.0, "crops"), (3, 3, 100.0, "flip"),
                                                      (2, 4, 45.0, "flip"), (1, 2, 100.0, "crops"),
                                                      (1, None, 100.0, None)])
def test_a_frozen_plan_takes_the_views_that_gain_most_and_fit(flip, crops, budget, tta):
    from transferlab.advise.advice import Plan
    from transferlab.advise.core import _with_test_time_views

    s = _session(budget)  # val and test: 5 s a pass; crops take 6 passes (30 s), flips 2 (10 s)
    flips = FlipTest(0.90, 0.90, 100, 0.01, 0.92, flip, 0.93, crops)
    assert _with_test_time_views(s, Plan("linear", {}, 20.0), flips).settings.get("tta") == tta


def test_views_rank_by_gain_then_by_fewer_views():
    from transferlab.advise.flips import ranked_views

    assert ranked_views({"flip": 2, "crops": 5}) == ["crops", "flip"]
    assert ranked_views({"flip": 3, "crops": 3}) == ["flip", "crops"]
    assert ranked_views({"flip": 1, "crops": 2}) == ["crops"] and ranked_views({"flip": -4}) == []


def test_small_data_weighs_the_crops_views_too_on_every_training_image(split_folder, tiny_weights):
    advice = _advise(split_folder, tiny_weights)
    sentence = next(r for r in advice.reasons if r.startswith("Mirror test"))
    assert "Averaged over the crops views" in sentence, sentence
    assert f"({len(advice.sweep.paths)} held-out images" in sentence  # each fold's held-out images: all of them


@pytest.mark.parametrize("accuracy, mirrored, se, keeps", [(0.95, 0.71, 0.03, False), (0.95, 0.91, 0.01, False),
                                                           (0.90, 0.88, 0.02, True), (0.97, 0.98, 0.01, True),
                                                           (0.95, 0.92, 0.02, True)])
def test_mirroring_changes_the_class_beyond_two_points_and_two_standard_errors(accuracy, mirrored, se, keeps):
    assert FlipTest(accuracy, mirrored, 100, se).keeps_class is keeps


def test_the_mirror_test_takes_folds_until_their_held_out_images_reach_its_count(monkeypatch):
    from transferlab.advise import flips

    monkeypatch.setattr(flips, "MIRROR_IMAGES", 500)
    folds = [(np.arange(4), np.arange(count)) for count in (200, 200, 200, 200)]
    assert len(flips._enough_folds(folds)) == 3  # 400 held-out images fall short, 600 reach it
    assert len(flips._enough_folds(folds[:2])) == 2  # small data: every fold


def test_the_corner_views_are_those_of_tta_crops():
    import torch

    from transferlab.advise.flips import CORNERS
    from transferlab.backbones import Preprocessing
    from transferlab.data.augment import train_transform
    from transferlab.data.transforms import tta_views

    pre = Preprocessing(input_size=16, crop_pct=0.8)  # resized to 20 px on the shorter side
    image = torch.randint(0, 256, (3, 20, 26), dtype=torch.uint8)
    crops = tta_views(pre, "crops")(image)  # the centre crop, its mirror, then the four corners
    for at, corner in enumerate(CORNERS):
        assert torch.equal(train_transform(pre, corner)(image), crops[2 + at])


def test_what_views_add_on_the_first_fold_is_a_share_of_its_images():
    flips = FlipTest(0.9, 0.9, 500, 0.01, 0.91, 5, 0.92, 8, first_fold=(100, 2, 3))
    assert flips.first_fold_share("flip") == pytest.approx(0.02) and flips.first_fold_share("crops") == pytest.approx(0.03)
    assert FlipTest(0.9, 0.9, 500, 0.01).first_fold_share("flip") == 0.0  # the first fold not scored
    assert flips.first_fold_share("none") == 0.0
