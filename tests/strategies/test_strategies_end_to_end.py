"""Every strategy on a tiny 3-class folder: the run directory, the summary, and reloading the model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from transferlab.config import TrainConfig
from transferlab.errors import TransferlabError
from transferlab.evaluation.predictions import predict_paths
from transferlab.features.probes import DEFAULT_CS
from transferlab.models.artifacts import load_model
from transferlab.strategies import train

STRATEGIES = {
    "linear": {},
    "features": {"epochs": 3},
    "finetune": {"epochs": 2},
    "scratch": {"model": "conv8-pool-flatten-dense16", "epochs": 3},
}
ALWAYS = ("config.yaml", "model.safetensors", "model.json", "summary.json", "confusion.png")


def _config(data, strategy: str, **changes) -> TrainConfig:
    options = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu", **STRATEGIES[strategy]}
    return TrainConfig(data=str(data), strategy=strategy, **{**options, **changes})


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_writes_a_complete_run_directory(split_folder, tmp_path, strategy):
    result = train(_config(split_folder, strategy), tmp_path / "run")
    out = result.out
    assert all((out / name).is_file() for name in ALWAYS)
    assert (out / "curves.png").is_file() == (strategy != "linear")
    assert TrainConfig.load(out / "config.yaml") == _config(split_folder, strategy)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary, default=str))
    assert summary["strategy"] == strategy and summary["classes"] == ["blue", "green", "red"]
    assert summary["backbone"] == ("tiny_cnn" if strategy != "scratch" else "scratch:conv8-pool-flatten-dense16")
    val = summary["val"]
    assert summary["best_val_accuracy"] == val["accuracy"] == result.val_accuracy
    assert set(val["per_class"]) == {"blue", "green", "red"} and val["num_samples"] == 12
    assert np.array(val["confusion"]).shape == (3, 3) and np.sum(val["confusion"]) == 12
    if strategy != "linear":
        rows = list(csv.DictReader((out / "metrics.csv").open()))
        assert [int(r["epoch"]) for r in rows if r["phase"] == strategy] == list(range(STRATEGIES[strategy]["epochs"]))
    _assert_load_model_reproduces(out, summary)


def _assert_load_model_reproduces(run_dir, summary: dict) -> None:
    """The reloaded model gives every val image the probability the run reported for it."""
    loaded = load_model(run_dir)
    assert loaded.classes == ("blue", "green", "red") and not loaded.classifier.training
    assert loaded.description["strategy"] == summary["strategy"]
    rows = summary["val"]["top_losses"]  # all 12 val images
    probs, paths, _ = predict_paths(loaded.calibrated(), [r["path"] for r in rows], loaded.preprocessing, device="cpu")
    assert list(paths) == [r["path"] for r in rows]
    for row, p in zip(rows, probs):
        assert p[row["true"]] == pytest.approx(row["prob_true"], abs=1e-5)
        assert int(p.argmax()) == row["predicted"]


@pytest.mark.parametrize("strategy", ["linear", "finetune"])
def test_frozen_base_probe_learns_the_colours(split_folder, tmp_path, strategy):
    # Colour is all these images carry: even a random conv base separates it linearly.
    config = _config(split_folder, strategy, epochs=1 if strategy == "finetune" else None)
    summary = train(config, tmp_path / "run").summary
    if strategy == "linear":
        assert summary["val"]["accuracy"] == 1.0 and summary["details"]["C"] in DEFAULT_CS
    else:
        assert summary["details"]["phase1_val_acc"] == 1.0
        assert summary["details"]["unfrozen_groups"] == ["stage1", "stage2"]


def test_second_run_into_a_used_out_needs_resume(split_folder, tmp_path):
    config = _config(split_folder, "linear")
    train(config, tmp_path / "run")
    with pytest.raises(TransferlabError, match="already holds a run: pass --resume"):
        train(config, tmp_path / "run")


def test_resume_with_another_config_names_the_changed_keys(split_folder, tmp_path):
    train(_config(split_folder, "features"), tmp_path / "run")
    before = (tmp_path / "run" / "config.yaml").read_text()
    with pytest.raises(TransferlabError) as info:
        train(_config(split_folder, "features", epochs=4, lr=0.01), tmp_path / "run", resume=True)
    message = str(info.value)
    assert "different config (epochs, lr)" in message and "\n" not in message
    assert (tmp_path / "run" / "config.yaml").read_text() == before


def test_resume_of_a_finished_run_trains_no_more(split_folder, tmp_path):
    config = _config(split_folder, "features")
    first = train(config, tmp_path / "run").summary
    weights = (tmp_path / "run" / "model.safetensors").read_bytes()
    again = train(config, tmp_path / "run", resume=True).summary
    assert again == first and first["epochs"] == 3  # the finished run, as it was
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == weights


def test_load_model_of_an_unfinished_run_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TransferlabError, match="not a finished run"):
        load_model(tmp_path / "empty")


@pytest.mark.parametrize("frozen_prefix", [True, False])
def test_finetune_of_the_top_runs_on_the_prefix_maps_or_end_to_end_as_asked(split_folder, tmp_path, frozen_prefix):
    result = train(_config(split_folder, "finetune", unfreeze=1, frozen_prefix=frozen_prefix), tmp_path / "run")
    recorded = result.summary["details"]["frozen_prefix"]
    assert (recorded is not None) == frozen_prefix
    if frozen_prefix:
        assert recorded["views"] == 2 and 0 < recorded["flops_share"] < 1
    assert result.val_accuracy > 0.5  # three colours: both paths learn them
    _assert_load_model_reproduces(result.out, json.loads((result.out / "summary.json").read_text()))


def test_finetune_of_everything_keeps_the_end_to_end_path(split_folder, tmp_path):
    result = train(_config(split_folder, "finetune", unfreeze=-1), tmp_path / "run")
    assert result.summary["details"]["frozen_prefix"] is None


@pytest.mark.parametrize("strategy", ["linear", "finetune"])
def test_test_time_views_asked_for_score_val_and_become_the_models_default(split_folder, tmp_path, strategy):
    import transferlab

    result = train(_config(split_folder, strategy, tta="crops"), tmp_path / "run")
    assert result.summary["tta"] == "crops" and 0.0 <= result.val_accuracy <= 1.0
    assert json.loads((result.out / "model.json").read_text())["tta"] == "crops"
    model = transferlab.load(result.out)
    assert model.tta == "crops" and len(model.predict_proba(str(split_folder / "val"))) == 12
    evaluation = model.evaluate(str(split_folder / "val")).metrics  # as the run scored its validation split
    assert evaluation.accuracy == result.val_accuracy and evaluation.loss == pytest.approx(result.summary["val"]["loss"])


@pytest.mark.parametrize("unfreeze", [1, -1])  # on the frozen prefix's maps, and end to end
def test_finetune_epochs_on_a_share_of_train_take_that_many_steps(split_folder, tmp_path, monkeypatch, unfreeze):
    from transferlab.engine.trainer import Trainer

    steps, step = [], Trainer._step
    monkeypatch.setattr(Trainer, "_step", lambda self, *args: steps.append(1) or step(self, *args))
    result = train(_config(split_folder, "finetune", unfreeze=unfreeze, batch_size=5, epoch_images=10), tmp_path / "run")
    assert len(steps) == 2 * 2  # 2 epochs of 10 of the 30 training images, in batches of 5
    assert TrainConfig.load(result.out / "config.yaml").epoch_images == 10


@pytest.mark.parametrize("strategy, changes, on", [
    ("finetune", {"unfreeze": 1, "mixup": 0.4}, "frozen prefix's maps"),
    ("finetune", {"unfreeze": -1, "cutmix": 1.0, "label_smoothing": 0.1}, "images"),
    ("scratch", {"mixup": 0.4, "cutmix": 1.0}, "images"),
])
def test_mixup_and_cutmix_train_and_are_recorded(split_folder, tmp_path, strategy, changes, on):
    result = train(_config(split_folder, strategy, **changes), tmp_path / "run")
    mix = result.summary["details"]["mix"]
    assert mix == {"mixup": changes.get("mixup", 0.0), "cutmix": changes.get("cutmix", 0.0), "on": on}
    assert TrainConfig.load(result.out / "config.yaml").mixup == changes.get("mixup", 0.0)
    rows = [r for r in csv.DictReader((result.out / "metrics.csv").open()) if r["phase"] == strategy]
    assert rows and all(0.0 <= float(r["train_acc"]) <= 1.0 and np.isfinite(float(r["train_loss"])) for r in rows)
    if strategy == "finetune":
        assert result.val_accuracy > 0.5  # three colours, still learnt with mixed batches
