"""`train --strategy auto`: advice, then the recommended strategy, with the decision recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fixed_now

from transferlab.config import TrainConfig
from transferlab.errors import TransferlabError
from transferlab.evaluation.predictions import predict_paths
from transferlab.models.artifacts import load_model
from transferlab.strategies import train
from transferlab.strategies.finetune import run_finetune


def _config(data, weights, **changes) -> TrainConfig:
    return TrainConfig(data=str(data), strategy="auto", backbone="tiny_cnn", weights=weights, input_size=32,
                       device="cpu", views=1, **changes)


def test_auto_runs_the_recommendation_and_records_why(split_folder, tiny_weights, tmp_path):
    result = train(_config(split_folder, tiny_weights, budget=300.0), tmp_path / "run", now=fixed_now)
    summary = json.loads((result.out / "summary.json").read_text())
    assert summary["strategy"] == "auto" and (result.out / "sweep.png").is_file()
    decision = summary["details"]["decision"]
    assert summary["details"]["chosen_strategy"] == decision["strategy"] in ("linear", "features", "features-aug")
    assert decision["quadrant"]["cell"].startswith("small + ")
    assert set(decision["signals"]["sweep"]) == {"stem", "stage1", "stage2", "end"}
    assert decision["reasons"][-1].startswith("Recommended") and decision["budget"]["seconds"] == 300.0
    scored = {c["strategy"] for c in decision["candidates"] if c["cv_mean"] is not None}
    not_compared = {item.split(":")[0] for item in decision["budget"]["given_up"] if "not compared" in item}
    assert scored | not_compared == {"linear", "features", "features-aug"} and "linear" in scored  # on any machine
    assert sum(c["status"] == "chosen" for c in decision["candidates"]) == 1
    assert any(note.startswith("auto chose") for note in summary["notes"])
    assert decision["budget"]["spent_seconds"] == 0.0 and "auto spent 0 s of its 5 min 00 s budget" in summary["notes"]
    assert TrainConfig.load(result.out / "config.yaml").strategy == "auto"
    loaded = load_model(result.out)
    rows = summary["val"]["top_losses"]
    probs, paths, _ = predict_paths(loaded.classifier, [r["path"] for r in rows], loaded.preprocessing, device="cpu")
    assert list(paths) == [r["path"] for r in rows]
    assert 0.0 <= summary["val"]["accuracy"] <= 1.0 and np.allclose(probs.sum(1), 1.0, atol=1e-4)


def test_budget_belongs_to_auto_only():
    with pytest.raises(TransferlabError, match="strategy auto"):
        TrainConfig(data="x", strategy="linear", budget=60.0)
    with pytest.raises(TransferlabError, match="positive"):
        TrainConfig(data="x", strategy="auto", budget=0.0)


def test_auto_fine_tunes_large_data_where_the_sweep_says(split_folder, tiny_weights, tmp_path, monkeypatch):
    from transferlab.advise import decide, plan
    from transferlab.strategies import auto

    monkeypatch.setattr(decide, "LARGE_PER_CLASS", 5)  # 10 images per class count as large
    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # a trial is planned even after a perfect fold
    monkeypatch.setattr(auto, "trial_margin", lambda scored: -1.0)  # and wins
    result = train(_config(split_folder, tiny_weights, batch_size=8), tmp_path / "run")
    details = result.summary["details"]
    assert details["decision"]["quadrant"]["size"] == "large"
    assert details["chosen_strategy"] == "finetune" and details["unfrozen_groups"]
    assert details["decision"]["settings"]["epochs"] == plan.MAX_TRIAL_EPOCHS and result.summary["epochs"] >= 1
    assert (result.out / "curves.png").is_file()


@pytest.mark.parametrize("margin, kept", [(-1.0, True), (2.0, False)])
def test_auto_measures_fine_tuning_with_a_trial_when_frozen_features_leave_headroom(
        split_folder, tiny_weights, tmp_path, monkeypatch, margin, kept):
    from transferlab.advise import plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)  # any frozen score leaves 'headroom'
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # a trial is planned even after a perfect fold
    monkeypatch.setattr(auto, "trial_margin", lambda scored: margin)  # force the verdict both ways
    result = train(_config(split_folder, tiny_weights, batch_size=8), tmp_path / "run")
    decision = result.summary["details"]["decision"]
    trial = decision["trial"]
    frozen = next(c for c in decision["candidates"] if c["status"] == "chosen")
    assert trial["train_images"] == 24 and trial["held_out_images"] == 6  # the CV's first fold of 30
    assert 0.0 <= trial["finetune_accuracy"] <= 1.0 and trial["frozen_accuracy"] == frozen["fold_scores"][0]
    assert trial["kept"] is kept and any(c["status"] == "trial" for c in decision["candidates"])
    assert decision["strategy"] == result.summary["details"]["chosen_strategy"] == ("finetune" if kept
                                                                                    else frozen["strategy"])
    assert ("unfrozen_groups" in result.summary["details"]) is kept
    assert trial["final"] == ("retrained on all of train" if kept else None)  # the fixed clock: a retrain fits
    assert not (result.out / "trial").exists()


def test_a_trial_that_leads_the_frozen_pick_may_train_into_the_fallbacks_time(split_folder, tiny_weights, tmp_path,
                                                                               monkeypatch):
    from transferlab.advise import core, plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # planned even after a perfect fold
    monkeypatch.setattr(plan, "fallback_seconds", lambda *args: 100.0)  # the frozen pick's run: dearer than scoring
    monkeypatch.setattr(plan, "is_last_trial", lambda settings: True)  # the first trial is the last
    monkeypatch.setattr(core, "is_last_trial", lambda settings: True)
    seen = []
    monkeypatch.setattr(auto, "run_finetune", lambda ctx: seen.append(ctx) or run_finetune(ctx))
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=1, budget=300.0), tmp_path / "run",
                   now=fixed_now)
    decision = result.summary["details"]["decision"]
    trial, frozen = decision["trial"], next(c for c in decision["candidates"] if c["status"] == "chosen")
    planned = next(c for c in decision["candidates"] if c["status"] == "trial")
    assert planned["reserve_ahead_seconds"] < planned["reserve_seconds"]
    ahead = seen[0].ahead  # the trial's context: a later deadline once it leads by the margin
    assert ahead.accuracy == pytest.approx(frozen["fold_scores"][0] + auto.trial_margin(trial["held_out_images"]))
    assert ahead.until - seen[0].deadline == pytest.approx(planned["reserve_seconds"] - planned["reserve_ahead_seconds"])
    assert not trial["trained_into_reserve"]  # the fixed clock never moves past the first deadline


def test_a_trial_that_led_and_trained_into_the_fallbacks_time_is_kept(split_folder, tiny_weights, tmp_path,
                                                                       monkeypatch):
    from transferlab.advise import core, plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)
    monkeypatch.setattr(plan, "fallback_seconds", lambda *args: 100.0)
    monkeypatch.setattr(plan, "is_last_trial", lambda settings: True)
    monkeypatch.setattr(core, "is_last_trial", lambda settings: True)
    monkeypatch.setattr(auto, "trial_margin", lambda held: -1.0)  # every epoch leads
    monkeypatch.setattr(auto, "_beats", lambda *args: False)  # and the final scoring misses the margin
    clock = [0.0]

    def trained_past_the_first_deadline(ctx):
        outcome = run_finetune(ctx)
        clock[0] = ctx.deadline + 1.0  # the trial ended after its first deadline, inside its later one
        return outcome

    monkeypatch.setattr(auto, "run_finetune", trained_past_the_first_deadline)
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=1, budget=300.0), tmp_path / "run",
                   now=lambda: clock[0])
    trial = result.summary["details"]["decision"]["trial"]
    assert trial["led_after_epoch"] == 1 and trial["trained_into_reserve"] and trial["kept"]
    assert "trained on into the time kept back" in trial["sentence"]
    assert result.summary["details"]["chosen_strategy"] == "finetune"


@pytest.mark.parametrize("slack, settings, epochs", [(0.0, {"epochs": 6}, 6), (70.0, {"epochs": 6}, 13),
                                                     (500.0, {"epochs": 6}, 15),
                                                     (70.0, {"epochs": 6, "epoch_images": 300}, 6)])
def test_a_trial_after_one_that_stopped_early_gets_the_epochs_its_time_buys(slack, settings, epochs):
    from transferlab.advise.candidates import Candidate
    from transferlab.strategies.auto import _lengthened

    candidate = Candidate("finetune", settings, None, None, (), 60.0, status="trial")  # 10 s an epoch, as planned
    config = TrainConfig(data="x")
    assert _lengthened(candidate, slack, config).settings["epochs"] == epochs  # at most MAX_TRIAL_EPOCHS (15)
    assert _lengthened(candidate, slack, config.replace(epoch_images=300)).settings["epochs"] == 6  # the user's share


def test_the_epoch_a_trial_first_led_is_counted_over_its_fine_tuning_epochs():
    from transferlab.engine.callbacks import Ahead
    from transferlab.strategies.auto import _led_after

    history = [{"phase": "head", "val_acc": 0.95}, {"phase": "finetune", "val_acc": 0.8},
               {"phase": "finetune", "val_acc": 0.92}, {"phase": "finetune", "val_acc": 0.91}]
    assert _led_after(history, Ahead(0.9, 0.0)) == 2 and _led_after(history, Ahead(0.93, 0.0)) is None
    assert _led_after(history, None) is None


def test_a_sweep_on_a_subsample_still_gets_its_trial_on_the_same_folds(split_folder, tiny_weights, tmp_path,
                                                                       monkeypatch):
    from transferlab.advise import plan, sweep

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # planned even after a perfect fold
    monkeypatch.setattr(sweep, "MAX_CV_SAMPLES", 15)  # the sweep and candidates see 15 of the 30 images
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=1), tmp_path / "run")
    decision = result.summary["details"]["decision"]
    frozen = next(c for c in decision["candidates"] if c["status"] == "chosen")
    # trained on all of train but the held-out fold of the sweep's subsample
    assert decision["trial"]["train_images"] == 27 and decision["trial"]["held_out_images"] == 3
    assert decision["trial"]["frozen_accuracy"] == frozen["fold_scores"][0]


def test_a_lost_trial_without_time_for_all_of_train_leaves_the_frozen_pick_on_the_swept_images(
        split_folder, tiny_weights, tmp_path, monkeypatch):
    from transferlab.advise import plan, sweep
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # planned even after a perfect fold
    monkeypatch.setattr(auto, "trial_margin", lambda scored: 2.0)  # and lost
    monkeypatch.setattr(sweep, "MAX_CV_SAMPLES", 15)  # the sweep sees 15 of the 30 images
    monkeypatch.setattr(auto, "_frozen_fits", lambda *args: False)
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=1), tmp_path / "run")
    details = result.summary["details"]
    assert not details["decision"]["trial"]["kept"] and details["chosen_strategy"] != "finetune"
    assert any("depth sweep's 15 training images" in note for note in result.summary["notes"])
    assert 0.0 <= result.summary["val"]["accuracy"] <= 1.0


def test_similar_data_gets_a_second_trial_with_every_layer_and_keeps_the_better(split_folder, tiny_weights, tmp_path,
                                                                                monkeypatch):
    from transferlab.advise import plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "trial_margin", lambda held: -1.0)  # planned even after a perfect fold
    monkeypatch.setattr(auto, "trial_margin", lambda scored: -1.0)  # both win
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=1), tmp_path / "run")
    decision = result.summary["details"]["decision"]
    first, second = decision["trials"]
    assert first["settings"]["unfreeze"] != -1 and second["settings"]["unfreeze"] == -1
    best = max((first, second), key=lambda r: r["finetune_accuracy"])  # the first on a tie
    assert decision["trial"] == best and decision["settings"]["unfreeze"] == best["settings"]["unfreeze"]
    assert result.summary["details"]["chosen_strategy"] == "finetune" and not (result.out / "trial").exists()


def test_a_trial_that_beats_the_frozen_pick_by_exactly_the_margin_wins():
    from transferlab.strategies.auto import _beats

    assert 186 / 190 + 2 / 190 > 188 / 190  # what rounding did to the comparison
    assert _beats(188 / 190, 186 / 190, 2 / 190) and not _beats(187 / 190, 186 / 190, 2 / 190)


def test_the_budget_sentence_says_what_was_spent_and_any_overrun():
    from transferlab.strategies.auto import _budget_sentence

    assert _budget_sentence(252.4, 600.0) == "auto spent 4 min 12 s of its 10 min 00 s budget"
    assert _budget_sentence(630.0, 600.0) == "auto spent 10 min 30 s, 30 s over its 10 min 00 s budget"


@pytest.mark.parametrize("per_epoch, seconds", [(None, 112.5), (60, 92.5)])
def test_a_retrain_is_priced_at_the_trials_pace(per_epoch, seconds):
    from types import SimpleNamespace

    from transferlab.strategies.auto import _retrain_seconds

    # the trial: 4 epochs of 10 s on 80 images (or 60 of them each), 10 s besides; the whole split is 100 images
    record = {"epoch_seconds": 10.0, "epochs_run": 4, "seconds": 50.0, "train_images": 80,
              "settings": {"epochs": 4, "epoch_images": per_epoch}}
    ctx = SimpleNamespace(splits=SimpleNamespace(train=[0] * 100), now=lambda: 0.0)
    # on all of train: 12.5 s of setup, then 12.5 s per epoch (10 s where each epoch trains on 60 images)
    assert _retrain_seconds(ctx, record, 8) == pytest.approx(seconds)


def test_a_trial_that_wins_without_time_to_retrain_is_the_final_model(split_folder, tiny_weights, tmp_path,
                                                                     monkeypatch):
    from transferlab.advise import plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "TRIAL_MARGIN", -1.0)  # the trial is planned and wins
    monkeypatch.setattr(plan, "TRIAL_MIN_IMAGES", -1.0)
    monkeypatch.setattr(auto, "_retrain_seconds", lambda *args: float("inf"))
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=2), tmp_path / "run")
    summary = result.summary
    trial = summary["details"]["decision"]["trial"]
    assert trial["kept"] and trial["final"] == "the trial's model" and "final one" in trial["sentence"]
    assert summary["details"]["chosen_strategy"] == "finetune" and summary["details"]["unfrozen_groups"]
    assert summary["epochs"] == trial["epochs_run"]  # no second run
    assert any("held-out training images" in note for note in summary["notes"])
    assert (result.out / "metrics.csv").is_file() and not (result.out / "trial").exists()
    assert load_model(result.out).classifier is not None and 0.0 <= summary["val"]["accuracy"] <= 1.0
    assert "none" in trial["tta"] and summary["tta"] == summary["details"]["decision"]["tta"]


def test_test_time_views_auto_chooses_score_the_run_and_stay_with_its_model(split_folder, tiny_weights, tmp_path,
                                                                            monkeypatch):
    import transferlab
    from transferlab.advise import plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "TRIAL_MARGIN", -1.0)  # the trial is planned and wins
    monkeypatch.setattr(plan, "TRIAL_MIN_IMAGES", -1.0)
    monkeypatch.setattr(auto, "_test_time_views", lambda ctx, record, left: ("flip", "views chosen (flip)"))
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=2), tmp_path / "run")
    summary = result.summary
    assert summary["tta"] == "flip" and summary["details"]["decision"]["tta"] == "flip"
    assert "auto: views chosen (flip)" in summary["notes"]
    assert load_model(result.out).tta == "flip" and transferlab.load(result.out).tta == "flip"
    assert transferlab.load(result.out, tta="none").tta == "none"  # the caller's choice wins


def test_small_images_get_their_trial_and_final_model_at_the_smaller_input(split_folder, tiny_weights, tmp_path,
                                                                           monkeypatch):
    from transferlab.advise import core, plan
    from transferlab.strategies import auto

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "TRIAL_MARGIN", -1.0)  # the trial is planned and wins
    monkeypatch.setattr(plan, "TRIAL_MIN_IMAGES", -1.0)
    monkeypatch.setattr(core, "finetune_sides", lambda facts, default: [16])  # the rule has its own test
    config = _config(split_folder, tiny_weights, batch_size=8, epochs=2).replace(input_size=None)
    result = train(config, tmp_path / "run")
    decision = result.summary["details"]["decision"]
    assert decision["settings"]["input_size"] == 16 and decision["config"]["input_size"] == 16
    assert any("Fine-tune at 16 px" in reason for reason in decision["reasons"])
    loaded = load_model(result.out)
    assert loaded.preprocessing.input_size == 16
    probs, _, _ = predict_paths(loaded.classifier, [str(next(split_folder.rglob("*.png")))], loaded.preprocessing,
                                device="cpu")
    assert probs.shape == (1, 3)


def test_rates_the_user_gives_pass_through_the_plan():
    from transferlab.strategies.auto import _unless_given

    planned = {"unfreeze": -1, "lr": 5e-4, "lr_mult": 1.0}
    assert _unless_given(planned, TrainConfig(data="x", strategy="auto")) == planned
    given = TrainConfig(data="x", strategy="auto", lr=1e-3, lr_mult=0.7)
    assert _unless_given(planned, given) == {"unfreeze": -1}
    sized = TrainConfig(data="x", strategy="auto", input_size=160)
    assert _unless_given({**planned, "input_size": 96}, sized) == planned
    default_typed = TrainConfig(data="x", strategy="auto", lr_mult=0.5)  # `--lr-mult 0.5`, the default's value
    assert _unless_given(planned, default_typed) == {"unfreeze": -1, "lr": 5e-4}


def _tta_trial(gains: dict, seconds_per_image: float = 0.01) -> dict:
    rows = {mode: {"accuracy": 0.9, "gain": gain, "seconds_per_image": seconds_per_image} for mode, gain in gains.items()}
    return {"held_out_images": 100, "tta": {"none": {"accuracy": 0.9, "gain": 0, "seconds_per_image": 0.01}, **rows}}


def test_test_time_views_are_kept_only_where_they_get_more_held_out_images_right():
    from types import SimpleNamespace

    from transferlab.strategies.auto import _test_time_views

    # 400 images to score at the end, and 200 training ones for the calibration: 6 s without views
    ctx = SimpleNamespace(splits=SimpleNamespace(train=[0] * 200, val=[0] * 300, test=[0] * 100))
    assert _test_time_views(ctx, _tta_trial({"flip": 2, "crops": 3}), 60.0)[0] == "crops"
    assert _test_time_views(ctx, _tta_trial({"flip": 3, "crops": 3}), 60.0)[0] == "flip"  # a tie: fewer views
    mode, why = _test_time_views(ctx, _tta_trial({"flip": 1, "crops": -2}), 60.0)  # one image is noise
    assert mode == "none" and "none beat plain scoring" in why
    assert _test_time_views(ctx, _tta_trial({"flip": 2}, seconds_per_image=0.13), 60.0)[0] == "flip"  # 52 + 6 s
    mode, why = _test_time_views(ctx, _tta_trial({"flip": 2}, seconds_per_image=0.14), 60.0)  # 56 + 6 s
    assert mode == "none" and "past the budget" in why
    assert _test_time_views(ctx, {"held_out_images": 100, "tta": {"none": {}}}, 60.0) == ("none", "")  # no flips


def test_the_paired_gain_counts_images_won_minus_images_lost():
    import numpy as np

    from transferlab.strategies.auto import _tta_record

    plain = np.array([True, True, False, False, True])
    flip = np.array([True, False, True, True, True])  # wins 2, loses 1
    record = _tta_record({"none": plain, "flip": flip}, {"none": 1.0, "flip": 2.0})
    assert record["flip"]["gain"] == 1 and record["none"]["gain"] == 0
    assert record["flip"]["accuracy"] == 0.8 and record["flip"]["seconds_per_image"] == pytest.approx(0.4)


def test_a_frozen_plan_with_test_time_flips_scores_the_run_with_them(split_folder, tiny_weights, tmp_path,
                                                                     monkeypatch):
    from dataclasses import replace

    from transferlab.advise import core

    monkeypatch.setattr(core, "_with_test_time_views",
                        lambda s, plan, flips: replace(plan, settings={**plan.settings, "tta": "flip"}))
    result = train(_config(split_folder, tiny_weights), tmp_path / "run")
    summary = result.summary
    assert summary["details"]["chosen_strategy"] in ("linear", "features", "features-aug")
    assert summary["tta"] == "flip" and summary["details"]["decision"]["tta"] == "flip"
    assert load_model(result.out).tta == "flip"


def test_test_time_views_the_user_fixes_are_neither_measured_nor_replaced(split_folder, tiny_weights, tmp_path,
                                                                         monkeypatch):
    from transferlab.advise import plan

    monkeypatch.setattr(plan, "TRIAL_BELOW", 1.01)
    monkeypatch.setattr(plan, "TRIAL_MARGIN", -1.0)  # the trial is planned and wins
    monkeypatch.setattr(plan, "TRIAL_MIN_IMAGES", -1.0)
    result = train(_config(split_folder, tiny_weights, batch_size=8, epochs=2, tta="flip"), tmp_path / "run")
    decision = result.summary["details"]["decision"]
    assert set(decision["trial"]["tta"]) == {"none"}  # only the plain scoring the trial is judged on
    assert result.summary["tta"] == decision["tta"] == "flip" and load_model(result.out).tta == "flip"
