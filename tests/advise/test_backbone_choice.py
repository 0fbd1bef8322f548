"""The backbone as a measured choice: which backbones are compared, and which one wins."""

from __future__ import annotations

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
