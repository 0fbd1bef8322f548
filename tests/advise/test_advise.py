"""`advise` end to end on tiny data: measurements, plan, reasons, budget, and bad input."""

from __future__ import annotations

import json

import pytest
from conftest import fixed_now, write_image

from advise_helpers import slow_machine  # noqa: F401  (fixture)

from transferlab.advise import AdviseOptions, advise
from transferlab.advise.text import format_advice, train_command
from transferlab.backbones import BackboneChoice
from transferlab.errors import DataError
from transferlab.features import ExtractionOptions

CPU = ExtractionOptions(device="cpu")


def _advise(data, weights, **options):
    return advise(str(data), BackboneChoice("tiny_cnn", weights, 32),
                  AdviseOptions(views=1, now=fixed_now, extraction=CPU, **options))


def test_advice_measures_compares_and_recommends(split_folder, tiny_weights):
    advice = _advise(split_folder, tiny_weights)
    assert [row.label for row in advice.sweep.rows] == ["stem", "stage1", "stage2", "end"]
    assert advice.sweep.folds == 5 and advice.sweep.samples == 30  # train only: the 12 val images never seen
    assert advice.facts.train_counts == {"blue": 10, "green": 10, "red": 10} and advice.facts.imbalance == 1.0
    assert advice.quadrant["cell"].startswith("small + ")
    assert [c.strategy for c in advice.candidates] == ["linear", "features", "features-aug"]
    assert all(c.cv_mean is not None and len(c.fold_scores) == 5 for c in advice.candidates)
    chosen = [c for c in advice.candidates if c.status == "chosen"]
    assert len(chosen) == 1 and chosen[0].strategy == advice.plan.strategy
    assert advice.plan.settings["layer"] == advice.sweep.rows[-1].layer or advice.plan.settings["layer"] in (
        "stem", "stage1", "stage2")
    assert any(r.startswith("Quadrant small") for r in advice.reasons) and advice.reasons[-1].startswith("Recommended")
    assert advice.throughput.forward > 0 and advice.plan.estimated_seconds >= 0
    json.dumps(advice.to_dict(), default=str)
    decision = json.loads(json.dumps(advice.decision(), default=str))
    assert set(decision) >= {"quadrant", "signals", "strategy", "settings", "reasons", "candidates", "budget"}
    text = format_advice(advice)
    for part in ("depth sweep", "quadrant:", "candidates", "recommended:", "why:", "cost:"):
        assert part in text
    assert train_command(advice).startswith(f"transferlab train {split_folder} --strategy {advice.plan.strategy}")


def test_advice_is_repeatable_and_second_time_from_the_cache(split_folder, tiny_weights, caplog):
    first = _advise(split_folder, tiny_weights)
    caplog.clear()
    with caplog.at_level("INFO", logger="transferlab.advise"):
        second = _advise(split_folder, tiny_weights)
    assert "4 layer(s) cached, 0 to extract" in caplog.text
    assert (first.plan.strategy, first.plan.settings) == (second.plan.strategy, second.plan.settings)
    assert [c.fold_scores for c in first.candidates] == [c.fold_scores for c in second.candidates]
    assert [r.fold_scores for r in first.sweep.rows] == [r.fold_scores for r in second.sweep.rows]


def test_a_tight_budget_gives_things_up_and_says_so(split_folder, tiny_weights, slow_machine):
    slow_machine(decode=0.05, augment=0.05, forward=0.2)  # a pass over the 30 training images: 7.5 s
    advice = _advise(split_folder, tiny_weights, budget="1s")
    given_up = advice.budget["given_up"]
    assert advice.budget["seconds"] == 1.0 and given_up
    assert any("features" in item for item in given_up)
    assert advice.plan.strategy == "linear"  # the cheapest measured candidate is always possible
    assert "gave up" in format_advice(advice)


def test_too_small_to_probe_gets_advice_not_a_crash(tmp_path, tiny_weights):
    root = tmp_path / "small"
    for i in range(5):
        write_image(root / "many" / f"{i}.png", (200, 30, 30), seed=i)
    write_image(root / "lonely" / "0.png", (30, 30, 200))
    advice = _advise(root, tiny_weights)
    assert advice.too_small and advice.sweep is None and advice.plan.strategy == "linear"
    assert "lonely" in advice.reasons[0] and any("Add images" in r for r in advice.reasons)
    assert advice.facts.train_counts == {"lonely": 1, "many": 5}
    assert "too small" in format_advice(advice)


def test_unusable_data_is_still_a_one_line_error(tmp_path, tiny_weights):
    write_image(tmp_path / "only" / "one_class" / "0.png", (0, 0, 0))
    with pytest.raises(DataError):
        _advise(tmp_path / "only", tiny_weights)
    with pytest.raises(DataError):
        _advise(tmp_path / "missing", tiny_weights)


def test_no_pretrained_weights_means_training_from_scratch(split_folder):
    advice = advise(str(split_folder), BackboneChoice("tiny_cnn", "none", 32), AdviseOptions(extraction=CPU))
    assert advice.plan.strategy == "scratch" and advice.sweep is None
    assert "nothing pretrained" in advice.reasons[0]


@pytest.fixture
def large(monkeypatch):
    """Make 10 images per class count as 'large', with room for a trial after any frozen score."""
    from transferlab.advise import decide, plan

    monkeypatch.setattr(decide, "LARGE_PER_CLASS", 5)
    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)


def test_large_data_gets_a_fine_tuning_trial_with_the_depth_from_the_sweep(split_folder, tiny_weights, large):
    advice = _advise(split_folder, tiny_weights)
    assert advice.quadrant["size"] == "large" and advice.plan.strategy in ("linear", "features")
    settings = advice.trial.settings
    assert settings["epochs"] == 5 and settings["augment"] == "light" and "unfreeze" in settings
    assert advice.throughput.train is not None and advice.throughput.train > 0
    assert [c.strategy for c in advice.candidates] == ["linear", "features", "finetune", "finetune"]
    assert advice.trial.cv_mean is None and advice.chosen.strategy == advice.plan.strategy
    assert any("24 training images for 5 epochs as a trial" in reason for reason in advice.reasons)
    # colours are like ImageNet: the sweep's depth first, then every layer at one rate beside it
    assert advice.trials[0] is advice.trial and advice.trial.settings["unfreeze"] != -1
    assert {k: advice.trials[1].settings[k] for k in ("unfreeze", "lr", "lr_mult")} == {
        "unfreeze": -1, "lr": 5e-4, "lr_mult": 1.0}
    assert any(reason.startswith("A second trial fine-tunes every layer") for reason in advice.reasons)


def test_fine_tuning_that_does_not_fit_the_budget_falls_back_to_the_frozen_base(split_folder, tiny_weights, large,
                                                                            slow_machine):
    advice = _advise(split_folder, tiny_weights, budget="2s")
    assert advice.plan.strategy in ("linear", "features") and advice.trial is None
    assert any(item.startswith("the fine-tuning trial") for item in advice.budget["given_up"])
    assert any("does not fit the time budget" in reason for reason in advice.reasons)


def test_a_trial_that_does_not_fit_at_the_preferred_side_runs_at_a_smaller_one(split_folder, tiny_weights, large,
                                                                            slow_machine, monkeypatch):
    from transferlab.advise import core, plan
    from transferlab.advise.cost import Throughput

    def by_side(backbone, images, decode_seconds, options=None, batch=32):  # a step costs its pixels
        return Throughput("cpu", decode=0.0, augment=0.0, forward=backbone.preprocessing.input_size ** 2 * 1e-4)

    monkeypatch.setattr(plan, "measure_throughput", by_side)
    monkeypatch.setattr(core, "finetune_sides", lambda facts, default: [64, 48, 16])
    slow_machine(decode=0.0, augment=0.0, forward=0.001, train_step=0.0)  # the session's side: frozen costs nothing
    # at 48 px (the prefix path, whose cost has its own tests) a trial costs about 31 s for 2 epochs, 38 s for 3
    # and 44 s for 4, with 10 s to score its model after it; at 64 px 2 epochs do not fit
    advice = advise(str(split_folder), BackboneChoice("tiny_cnn", tiny_weights, None),
                    AdviseOptions(budget="50s", views=1, now=fixed_now, extraction=CPU))
    assert advice.trial.settings["input_size"] == 48 and advice.trial.settings["epochs"] == 3
    assert "fine-tuning at 64 px (it fits at 48 px)" in advice.budget["given_up"]


def test_headroom_on_small_data_plans_a_fine_tuning_trial_not_a_guess(split_folder, tiny_weights, monkeypatch,
                                                                     slow_machine):
    from transferlab.advise import plan

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    perfect = _advise(split_folder, tiny_weights)  # colour classes: the frozen pick is perfect on fold 0
    assert perfect.chosen.fold_scores[0] == 1.0 and perfect.trial is None
    assert any("no trial can beat it by the margin" in reason for reason in perfect.reasons)
    monkeypatch.setattr(plan, "TRIAL_MARGIN", -1.0)  # as if a trial could still win
    monkeypatch.setattr(plan, "TRIAL_MIN_IMAGES", -1.0)
    advice = _advise(split_folder, tiny_weights)
    assert advice.plan.strategy in ("linear", "features", "features-aug")  # the frozen pick stays the plan
    assert advice.trial is not None and advice.trial.settings["epochs"] == 5 and advice.chosen.strategy == advice.plan.strategy
    assert any("as a trial" in reason for reason in advice.reasons)
    tight = _advise(split_folder, tiny_weights, budget="2s")
    assert tight.trial is None and any("trial" in item for item in tight.budget["given_up"])
