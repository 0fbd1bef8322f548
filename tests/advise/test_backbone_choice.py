"""The backbone as a measured choice: which backbones are compared, and which one wins."""

from __future__ import annotations

import pytest
from conftest import fixed_now

from transferlab.advise import AdviseOptions, advise
from transferlab.advise.backbone_choice import BackboneScore, _winner, alternative_backbones
from transferlab.advise.text import format_advice
from transferlab.backbones import BackboneChoice
from transferlab.features import ExtractionOptions


def _score(name: str, folds: tuple[float, ...], cost: float = 0.01) -> BackboneScore:
    return BackboneScore(name, 224, sum(folds) / len(folds), None, folds, cost)


def test_a_backbone_the_user_names_is_fixed():
    assert alternative_backbones(BackboneChoice("efficientnet_lite2"), fixed=None) == ()
    assert alternative_backbones(BackboneChoice(), fixed=True) == ()
    assert alternative_backbones(BackboneChoice(input_size=128), fixed=None) == ()
    assert alternative_backbones(BackboneChoice(weights="none"), fixed=None) == ()


def test_the_default_backbone_is_compared_with_the_packaged_family():
    alternatives = alternative_backbones(BackboneChoice(), fixed=None)
    assert "efficientnet_lite0" not in alternatives
    assert {"efficientnet_lite1", "efficientnet_lite2"} <= set(alternatives)  # packaged with the install
    assert alternatives[:2] == ("efficientnet_lite1", "efficientnet_lite2")  # cheapest first


def test_a_gain_beyond_the_noise_switches_the_backbone():
    asked = _score("a", (0.90, 0.91, 0.89, 0.90, 0.90))
    better = _score("b", (0.95, 0.96, 0.95, 0.94, 0.95))
    winner, sentence = _winner([asked, better])
    assert winner is better
    assert "b is 5.00 points above a" in sentence


def test_a_gain_within_the_noise_keeps_the_asked_backbone():
    asked = _score("a", (0.90, 0.95, 0.85, 0.92, 0.88))
    noisy = _score("b", (0.95, 0.90, 0.90, 0.90, 0.90))
    winner, sentence = _winner([asked, noisy])
    assert winner is asked
    assert "within one paired standard error" in sentence


def test_a_skipped_candidate_cannot_win():
    asked = _score("a", (0.9, 0.9))
    skipped = BackboneScore("b", 260, None, None, (), 0.05, "skipped: budget")
    assert _winner([asked, skipped])[0] is asked


def test_no_alternative_is_tried_once_the_asked_backbone_saturates(split_folder, monkeypatch):
    from transferlab.advise import backbone_choice

    monkeypatch.setattr(backbone_choice, "SATURATED", 0.0)  # any score counts as saturated
    options = AdviseOptions(views=1, now=fixed_now, extraction=ExtractionOptions(device="cpu", engine="torch"),
                            alternatives=("efficientnet_lite1",))
    advice = advise(str(split_folder), BackboneChoice(input_size=64), options)
    skipped = advice.backbones[1]
    assert skipped.cv_mean is None and skipped.status.startswith("skipped: efficientnet_lite0 already scores")
    assert advice.backbone == "efficientnet_lite0" and "-  skipped" in format_advice(advice)


def test_advise_scores_each_packaged_backbone_on_the_same_folds(split_folder, monkeypatch):
    from transferlab.advise import backbone_choice

    monkeypatch.setattr(backbone_choice, "SATURATED", 1.01)  # the tiny colours saturate every probe
    monkeypatch.setattr(backbone_choice, "UNBUDGETED_COST_RATIO", float("inf"))  # timings on a busy machine vary
    options = AdviseOptions(views=1, now=fixed_now, extraction=ExtractionOptions(device="cpu", engine="torch"),
                            alternatives=("efficientnet_lite1",))
    advice = advise(str(split_folder), BackboneChoice(input_size=64), options)  # small: a fast test
    scores = {b.name: b for b in advice.backbones}
    assert set(scores) == {"efficientnet_lite0", "efficientnet_lite1"}
    assert all(len(b.fold_scores) == len(scores["efficientnet_lite0"].fold_scores) for b in scores.values())
    chosen = [b for b in advice.backbones if b.status == "chosen"]
    assert len(chosen) == 1 and chosen[0].name == advice.backbone
    assert any(r.startswith("Backbones compared") for r in advice.reasons)
    assert [b["name"] for b in advice.decision()["backbones"]] == ["efficientnet_lite0", "efficientnet_lite1"]
    assert "backbones (CV probe at the end of the base" in format_advice(advice)


def _session_of(images: int, budget: float):
    """The parts of an advice session `fine_tuning_first` reads: train size, clock, base."""
    from types import SimpleNamespace

    from transferlab.advise.budget import Clock

    base = SimpleNamespace(name="efficientnet_lite0", preprocessing=SimpleNamespace(input_size=224))
    return SimpleNamespace(train=[None] * images, clock=Clock(budget, fixed_now), base=base)


@pytest.fixture
def step_by_side(monkeypatch):
    """A training step costs 1e-6 s a pixel (0.016 s an image at 128 px), nothing else costs."""
    from transferlab.advise import plan
    from transferlab.advise.cost import Throughput

    def machine(s, size):
        return Throughput("cpu", decode=0.0, augment=0.0, forward=0.0, train=1e-6 * (size or 224) ** 2)

    monkeypatch.setattr(plan, "finetune_machine", machine)


def test_large_data_whose_fine_tuning_the_budget_bounds_skips_the_comparison(step_by_side):
    from transferlab.advise.plan import fine_tuning_first

    s = _session_of(10_000, 600.0)  # an epoch: 164 s at 128 px, 92 s at 96, 41 at 64
    sentence = fine_tuning_first(s, True, [128, 96, 64])
    assert sentence.startswith("Backbones not compared: the data is large")
    assert "5 epochs at 128 px take about 13 min 39 s" in sentence
    assert fine_tuning_first(s, False, [128, 96, 64]) == ""  # small data: the frozen pick may well be final


def test_large_data_is_compared_where_fine_tuning_fits_well_or_not_at_all(step_by_side):
    from transferlab.advise.plan import fine_tuning_first

    assert fine_tuning_first(_session_of(10_000, 1000.0), True, [128, 96, 64]) == ""  # 5 epochs at 128 px fit
    assert fine_tuning_first(_session_of(10_000, 60.0), True, [128, 96, 64]) == ""  # 2 epochs fit nowhere
    assert fine_tuning_first(_session_of(10_000, None), True, [128, 96, 64]) == ""  # no budget


def test_skipped_backbones_are_listed_with_the_kept_one(split_folder, tiny_weights, monkeypatch):
    from transferlab.advise import core, decide

    monkeypatch.setattr(decide, "LARGE_PER_CLASS", 5)  # 10 images per class count as large
    monkeypatch.setattr(core, "fine_tuning_first", lambda s, large, sides: "Backbones not compared: a reason." if large else "")
    options = AdviseOptions(views=1, now=fixed_now, extraction=ExtractionOptions(device="cpu"),
                            alternatives=("efficientnet_lite1", "efficientnet_lite2"))
    advice = advise(str(split_folder), BackboneChoice("tiny_cnn", tiny_weights, 32), options)  # never builds lite1/2
    assert [(b.name, b.status) for b in advice.backbones] == [
        ("tiny_cnn", "chosen"), ("efficientnet_lite1", "skipped: large data, fine-tuning first"),
        ("efficientnet_lite2", "skipped: large data, fine-tuning first")]
    assert advice.backbone == "tiny_cnn" and "Backbones not compared: a reason." in advice.reasons
