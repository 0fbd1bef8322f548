"""The Python API: `transferlab.train/evaluate/predict/extract/export` mirror the CLI's verbs."""

from __future__ import annotations

import numpy as np
import pytest

import transferlab as tl

TINY = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu"}


@pytest.fixture
def run(split_folder, tmp_path):
    return tl.train(split_folder, strategy="features", out=tmp_path / "run", epochs=3, **TINY)


def test_train_returns_the_summary_and_writes_the_run(run, tmp_path):
    assert run.out == tmp_path / "run" and (run.out / "model.safetensors").is_file()
    assert run.summary["strategy"] == "features" and run.val_accuracy == run.summary["val"]["accuracy"]


def test_evaluate_on_the_val_folder_matches_the_training_summary(run, split_folder):
    evaluation = tl.evaluate(run.out, split_folder / "val", device="cpu")
    assert evaluation.accuracy == run.summary["val"]["accuracy"]
    assert evaluation.metrics.confusion == run.summary["val"]["confusion"] and evaluation.skipped == ()


def test_evaluate_refuses_a_class_the_model_does_not_know(run, tmp_path):
    from conftest import write_image

    write_image(tmp_path / "other" / "purple" / "0.png", (150, 0, 150))
    with pytest.raises(tl.DataError, match="purple"):
        tl.evaluate(run.out, tmp_path / "other")


def test_predict_gives_the_top_classes_per_image(run, split_folder):
    images = sorted((split_folder / "val" / "red").glob("*.png"))[:2]
    rows = tl.predict(run.out, images, top=2, device="cpu")
    assert [row["image"] for row in rows] == [str(p) for p in images]
    assert all(len(row["predictions"]) == 2 for row in rows)
    first = rows[0]["predictions"]
    assert first[0]["probability"] >= first[1]["probability"] and first[0]["label"] in {"red", "green", "blue"}


def test_extract_writes_a_feature_file(split_folder, tmp_path):
    out = tl.extract(split_folder, tmp_path / "feats.npz", backbone=tl.BackboneChoice("tiny_cnn", "none", 32),
                     device="cpu")
    with np.load(out) as data:
        assert data["features"].shape == (42, 32)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        tl.no_such_verb  # noqa: B018
