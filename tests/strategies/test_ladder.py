"""The ladder: rungs as data, budget planning, the runner (resume, failures) and its report files."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import write_image

from transferlab.advise.budget import format_seconds
from transferlab.config import TrainConfig
from transferlab.data import load_splits
from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.strategies import train
from transferlab.strategies.ladder import (
    RUNG_NAMES,
    LadderOptions,
    plan_ladder,
    rung_config,
    run_ladder,
    select_rungs,
)
from transferlab.strategies.ladder import plan as plan_module
from transferlab.strategies.ladder.costs import Costs, rung_cost
from transferlab.strategies.ladder.rungs import scratch_input_size
from transferlab.viz.render.ladder import plot_ladder

TINY_SPEC = "conv8-pool-flatten-dense16"


def _options(data, **changes) -> LadderOptions:
    settings = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu",
                "scratch_model": TINY_SPEC, "scratch_aug_model": TINY_SPEC + "-dropout0.5", "scratch_size": 24,
                "epochs_scale": 0.1, **changes}
    return LadderOptions(data=str(data), **settings)


# -- rungs, budget text --------------------------------------------------------------------------


def test_the_ladder_has_the_notes_rungs_in_order():
    assert RUNG_NAMES == ("scratch", "scratch-aug", "linear", "features", "features-aug", "finetune", "auto")
    assert [r.name for r in select_rungs("finetune, scratch")] == ["scratch", "finetune"]  # ladder order
    assert select_rungs(None) == select_rungs("") == select_rungs([])
    with pytest.raises(UnknownNameError, match="did you mean features-aug"):
        select_rungs("features-agu")


def test_rung_configs_follow_the_notes(split_folder):
    options = LadderOptions(data=str(split_folder))
    by_name = {r.name: rung_config(r, options, scratch_side=150) for r in select_rungs(None)[:-1]}
    scratch, aug = by_name["scratch"], by_name["scratch-aug"]
    assert (scratch.model, scratch.augment, scratch.input_size, scratch.weights) == ("cats-dogs-small", "none", 150, "none")
    assert (aug.model, aug.augment, aug.epochs) == ("cats-dogs-small-dropout", "medium", 60)
    assert by_name["features"].backbone == by_name["finetune"].backbone == "efficientnet_lite0"
    assert by_name["features-aug"].views == 5 and by_name["finetune"].unfreeze == 2
    assert all(c.seed == 0 and c.data == str(split_folder) for c in by_name.values())


def test_scratch_side_is_150_or_the_smallest_the_cnn_takes_for_small_images(split_folder, tmp_path):
    splits = load_splits(split_folder)  # 24-pixel images
    # Four valid 3x3 convs each followed by a 2x2 pool need at least 46 pixels.
    assert scratch_input_size("cats-dogs-small", splits) == 46
    assert scratch_input_size("cats-dogs-small", splits, requested=64) == 64
    for label in ("a", "b"):
        for i in range(3):
            write_image(tmp_path / "big" / label / f"{i}.png", (200, 100, 50), size=320, seed=i)
    assert scratch_input_size("cats-dogs-small", load_splits(tmp_path / "big", val_fraction=0.34)) == 150


# -- planning ------------------------------------------------------------------------------------


def test_epochs_scale_shrinks_what_takes_time_and_says_so(split_folder):
    options = LadderOptions(data=str(split_folder), epochs_scale=0.1, scratch_size=32)
    plan = plan_ladder(options, select_rungs("scratch,linear,features-aug,finetune"), load_splits(split_folder))
    planned = {p.rung.name: p for p in plan.rungs}
    assert planned["scratch"].config.epochs == 3 and planned["scratch"].reductions == ("epochs 30 -> 3 (epochs scale 0.1)",)
    assert planned["features-aug"].config.views == 1 and planned["finetune"].config.epochs == 1
    assert planned["linear"].reductions == () and plan.budget_seconds is None


def _fake_costs(monkeypatch):
    costs = Costs(decode=0.001, augment=0.001, base_infer=0.01, base_train=0.05,
                  scratch=(("cats-dogs-small", 0.02, 0.005),))
    monkeypatch.setattr(plan_module, "measure_costs", lambda configs, splits: costs)
    return costs


def test_budget_cuts_epochs_to_fit_the_measured_costs(split_folder, monkeypatch):
    costs = _fake_costs(monkeypatch)
    splits = load_splits(split_folder)  # 30 train, 12 val
    rungs = select_rungs("scratch,features,finetune")
    options = LadderOptions(data=str(split_folder), scratch_size=32, budget_seconds=25.0)
    plan = plan_ladder(options, rungs, splits)
    planned = {p.rung.name: p for p in plan.rungs}
    assert plan.estimate_seconds <= 25.0 and not plan.warnings
    assert 1 <= planned["scratch"].config.epochs < 30 and planned["finetune"].config.epochs < 6
    assert planned["features"].config.epochs == 40  # head epochs on cached features cost nothing: kept
    assert planned["scratch"].reductions[0].endswith("(budget 25 s)")
    # The estimate is the cost model applied to the planned settings.
    counts, extracted = {"train": 30, "val": 12, "test": 0}, set()
    fixed, per_epoch, epochs = rung_cost(planned["scratch"].config, costs, counts, extracted)
    assert epochs == planned["scratch"].config.epochs
    assert planned["scratch"].estimate == pytest.approx(fixed + per_epoch * epochs)
    # A budget that covers everything cuts nothing.
    generous = plan_ladder(dataclasses.replace(options, budget_seconds=3600.0), rungs, splits)
    assert all(p.reductions == () for p in generous.rungs)


def test_auto_gets_its_share_of_the_budget_and_no_epochs_scale(split_folder, monkeypatch):
    _fake_costs(monkeypatch)
    splits = load_splits(split_folder)
    options = LadderOptions(data=str(split_folder), scratch_size=32, budget_seconds=30.0, epochs_scale=0.5)
    plan = plan_ladder(options, select_rungs("finetune,auto"), splits)
    finetune, auto = plan.rungs
    assert auto.config.strategy == "auto" and auto.config.epochs is None  # auto plans its own epochs
    assert auto.config.budget == pytest.approx(auto.estimate, abs=0.1) and 0 < auto.config.budget < 30
    assert auto.reductions == (f"budget {format_seconds(auto.estimate)}, its share of 30 s",)
    unbudgeted = plan_ladder(dataclasses.replace(options, budget_seconds=None), select_rungs("auto"), splits)
    assert unbudgeted.rungs[0].config.budget is None and unbudgeted.rungs[0].reductions == ()


def test_a_budget_below_the_minimum_runs_the_minimum_and_warns(split_folder, monkeypatch):
    _fake_costs(monkeypatch)
    options = LadderOptions(data=str(split_folder), scratch_size=32, budget_seconds=1.0)
    plan = plan_ladder(options, select_rungs("scratch,finetune"), load_splits(split_folder))
    assert [p.config.epochs for p in plan.rungs] == [1, 1]
    assert "below the estimated minimum" in plan.warnings[0]


def test_feature_extraction_is_counted_once_for_rungs_sharing_the_cache():
    costs = Costs(decode=0.0, base_infer=1.0)
    counts, extracted = {"train": 10, "val": 5, "test": 5}, set()
    first = rung_cost(TrainConfig(data="x", strategy="linear"), costs, counts, extracted)
    second = rung_cost(TrainConfig(data="x", strategy="features"), costs, counts, extracted)
    assert first[0] - second[0] == 20.0 and extracted == {"train", "val", "test"}


def test_budget_planning_measures_the_real_networks(split_folder):
    options = _options(split_folder, epochs_scale=1.0, budget_seconds=600.0)
    plan = plan_ladder(options, select_rungs("scratch,linear,finetune"), load_splits(split_folder))
    measured = plan.costs.to_dict()
    assert measured["base_infer"] > 0 and measured["base_train"] > 0 and measured["decode"] > 0
    assert measured["scratch"][TINY_SPEC]["train"] > 0
    assert all(p.estimate > 0 for p in plan.rungs) and plan.estimate_seconds == pytest.approx(
        sum(p.estimate for p in plan.rungs))


# -- running -------------------------------------------------------------------------------------


def test_ladder_trains_each_rung_and_writes_the_comparison(split_folder, tmp_path):
    result = run_ladder(_options(split_folder), tmp_path / "ladder", "scratch,linear,features,finetune")
    out = result.out
    assert [r.name for r in result.results] == ["scratch", "linear", "features", "finetune"]
    assert all((out / name).is_file() for name in ("ladder.json", "ladder.md", "ladder.png"))
    for r in result.results:
        summary = json.loads((out / r.name / "summary.json").read_text())
        assert r.status == "done" and r.val_accuracy == summary["val"]["accuracy"] and r.test_accuracy is None
        assert summary["strategy"] == r.strategy and r.seconds > 0
    rows = {r.name: r for r in result.results}
    assert rows["scratch"].trainable_params == json.loads((out / "scratch" / "summary.json").read_text())[
        "details"]["trainable_params"]
    assert rows["linear"].trainable_params == (32 + 1) * 3 and rows["linear"].epochs is None  # tiny_cnn: 32 features
    assert rows["features"].trainable_params == 32 * 256 + 256 + 256 * 3 + 3
    assert rows["scratch"].input_size == 24 and rows["linear"].input_size == 32
    report = json.loads((out / "ladder.json").read_text())
    assert report["finished"] and [r["name"] for r in report["rungs"]] == ["scratch", "linear", "features", "finetune"]
    assert report["plan"]["rungs"][0]["reductions"] == ["epochs 30 -> 3 (epochs scale 0.1)"]
    md = (out / "ladder.md").read_text()
    assert "| scratch | scratch (conv8-pool-flatten-dense16) | 24 px |" in md and "~0.70" in md and "0.9891" in md


def test_the_auto_rung_shows_the_strategy_it_chose(split_folder, tmp_path):
    result = run_ladder(_options(split_folder, epochs_scale=1.0), tmp_path / "ladder", "auto")
    auto = result.results[0]
    summary = json.loads((tmp_path / "ladder" / "auto" / "summary.json").read_text())
    assert auto.status == "done" and auto.chosen == summary["details"]["chosen_strategy"]
    assert f"| auto | auto -> {auto.chosen}" in (tmp_path / "ladder" / "ladder.md").read_text()


def test_test_split_accuracy_is_reported(tmp_path):
    for split, count in (("train", 8), ("val", 3), ("test", 3)):
        for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(count):
                write_image(tmp_path / "data" / split / label / f"{i}.png", colour, seed=i)
    result = run_ladder(_options(tmp_path / "data"), tmp_path / "ladder", "linear")
    summary = json.loads((tmp_path / "ladder" / "linear" / "summary.json").read_text())
    assert result.results[0].test_accuracy == summary["test"]["accuracy"]


def test_resume_keeps_finished_rungs_and_adds_new_ones(split_folder, tmp_path):
    out = tmp_path / "ladder"
    run_ladder(_options(split_folder), out, "linear")
    with pytest.raises(TransferlabError, match="already holds a ladder: pass --resume"):
        run_ladder(_options(split_folder), out, "linear")
    stamp = (out / "linear" / "summary.json").stat().st_mtime_ns
    result = run_ladder(_options(split_folder), out, "linear,features", resume=True)
    assert (out / "linear" / "summary.json").stat().st_mtime_ns == stamp  # not retrained
    assert [(r.name, r.status) for r in result.results] == [("linear", "earlier"), ("features", "done")]
    again = run_ladder(_options(split_folder), out, "scratch", resume=True)
    assert [(r.name, r.status) for r in again.results] == [("scratch", "done"), ("linear", "earlier"),
                                                           ("features", "earlier")]


def test_resume_continues_a_rung_with_its_saved_settings(split_folder, tmp_path):
    out = tmp_path / "ladder"
    saved = rung_config(select_rungs("features")[0], _options(split_folder)).replace(epochs=2)
    train(saved, out / "features")
    (out / "features" / "summary.json").unlink()  # as if interrupted after its last epoch
    result = run_ladder(_options(split_folder, epochs_scale=1.0), out, "features", resume=True)
    assert result.plan.rungs[0].earlier and result.plan.rungs[0].config == saved
    assert result.results[0].status == "done" and result.results[0].epochs == 2


def test_resume_replans_a_rung_that_failed_before_training(split_folder, tmp_path):
    out = tmp_path / "ladder"
    bad = _options(split_folder, scratch_model="cats-dogs-small", scratch_size=20)
    assert run_ladder(bad, out, "scratch").results[0].status == "failed"
    fixed = run_ladder(_options(split_folder, scratch_model="cats-dogs-small", scratch_size=46), out, "scratch",
                       resume=True)
    assert not fixed.plan.rungs[0].earlier and fixed.results[0].status == "done"
    assert fixed.results[0].input_size == 46


def test_resume_refuses_a_ladder_of_other_data(split_folder, image_folder, tmp_path):
    run_ladder(_options(split_folder), tmp_path / "ladder", "linear")
    with pytest.raises(TransferlabError, match="other data"):
        run_ladder(_options(image_folder), tmp_path / "ladder", "linear", resume=True)


def test_a_failing_rung_is_recorded_and_the_ladder_goes_on(split_folder, tmp_path):
    options = _options(split_folder, scratch_model="cats-dogs-small", scratch_size=20)  # too small for 4 pools
    result = run_ladder(options, tmp_path / "ladder", "scratch,linear")
    failed, linear = result.results
    assert failed.status == "failed" and "too small" in failed.error and result.failed == [failed]
    assert linear.status == "done"
    assert "`scratch` failed: " in (tmp_path / "ladder" / "ladder.md").read_text()


def test_plot_ladder_draws_curves_levels_and_bars(tmp_path):
    curves = {"scratch": {"epoch": [1, 2, 3], "val_acc": [0.5, 0.6, float("nan")]},
              "linear": {"epoch": [0], "val_acc": [0.9]}}
    finals = [{"name": "scratch", "val": 0.6, "test": 0.55, "notes": 0.7},
              {"name": "linear", "val": 0.9, "test": None, "notes": None}]
    path = plot_ladder(curves, finals, tmp_path / "ladder.png", reference=("Kaggle winner", 0.989))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
