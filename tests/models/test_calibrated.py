"""A run's calibration: fitted on validation, saved beside the model, applied when predicting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from transferlab.backbones import create_backbone
from transferlab.models.artifacts import describe, load_model, save_model
from transferlab.models.calibrated import Calibrated, Calibration, class_centroids
from transferlab.models.classifier import Classifier
from transferlab.models.heads import Head
from transferlab.paths import RunDir
from transferlab.strategies.calibrate import (MIN_IMAGES, SplitOutputs, calibration_summary, fit_calibration,
                                              scores_of)


def _blobs(n: int, seed: int, classes: int = 3, dim: int = 8, kind: int = 0) -> SplitOutputs:
    """Overlapping Gaussian classes and an over-confident linear head: its logits scaled by 10.
    Another `kind` of image has classes elsewhere in feature space."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(kind).normal(0, 1, (classes, dim))
    labels = rng.integers(0, classes, n)
    features = (means[labels] + rng.normal(0, 1.0, (n, dim))).astype(np.float32)
    logits = 10 * (features @ means.T - 0.5 * (means ** 2).sum(1))
    return SplitOutputs(logits, features, labels, tuple(f"{i}.png" for i in range(n)))


def test_the_temperature_of_an_over_confident_head_is_above_one_and_the_ece_falls_on_held_out_images():
    calibration, reason = fit_calibration(_blobs(600, 1), _blobs(400, 2), classes=3)
    assert reason is None and calibration.temperature > 3
    entry, bins = calibration_summary(calibration, reason, {"val": _blobs(400, 2), "test": _blobs(400, 3)})
    for split in ("val", "test"):  # test: images the temperature never saw
        assert entry[split]["ece_after"] < entry[split]["ece_before"] / 2
        assert entry[split]["nll_after"] < entry[split]["nll_before"]
        assert bins[split][0].counts.sum() == 400
    assert "fitted on" in entry["note"] and entry["unknown"]["quantile"] == 0.95


def test_a_tiny_validation_split_keeps_t_at_one_and_says_why():
    calibration, reason = fit_calibration(_blobs(100, 1), _blobs(MIN_IMAGES - 1, 2), classes=3)
    assert calibration.temperature == 1.0 and f"{MIN_IMAGES - 1} validation images" in reason


def test_features_of_another_distribution_score_above_the_threshold_and_most_held_out_ones_below():
    train, val = _blobs(300, 1, dim=64), _blobs(200, 2, dim=64)  # wide features, as a network's are
    calibration, _ = fit_calibration(train, val, classes=3)
    assert np.allclose(np.linalg.norm(calibration.centroids, axis=1), 1, atol=1e-5)
    other = _blobs(200, 4, dim=64, kind=1).features
    held_out = scores_of(_blobs(200, 3, dim=64).features, calibration.centroids)
    unlike = scores_of(other, calibration.centroids)
    assert (held_out > calibration.threshold).mean() < 0.15 and (unlike > calibration.threshold).mean() > 0.8


def _tiny_classifier() -> Classifier:
    torch.manual_seed(0)
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    return Classifier(backbone, Head(backbone.feature_dim, 3)).eval()


def _saved_run(tmp_path, calibration: Calibration):
    classifier = _tiny_classifier()
    save_model(classifier, tmp_path, describe(classifier, ("a", "b", "c"), "linear", None), calibration)
    return classifier


def _fitted(temperature: float) -> Calibration:
    """A calibration of the tiny classifier's 32 pooled features from random training features."""
    features = np.random.default_rng(0).normal(size=(30, 32)).astype(np.float32)
    return Calibration(temperature, class_centroids(features, np.arange(30) % 3, 3), 0.25, 0.95)


def test_temperature_and_centroids_are_saved_and_reloaded(tmp_path):
    fitted = _fitted(2.5)
    classifier = _saved_run(tmp_path, fitted)
    assert json.loads(RunDir(tmp_path).model_meta.read_text())["calibration"]["temperature"] == 2.5
    loaded = load_model(tmp_path)
    assert loaded.calibration.temperature == 2.5 and loaded.calibration.threshold == 0.25
    assert np.array_equal(loaded.calibration.centroids, fitted.centroids)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits, unlike = loaded.calibrated()(x)
        assert torch.allclose(logits, classifier(x) / 2.5, atol=1e-6)
    assert unlike.shape == (4,) and bool((unlike >= -1e-6).all()) and bool((unlike <= 2 + 1e-6).all())


def test_a_run_saved_before_calibration_loads_with_t_one_and_no_flag(tmp_path):
    classifier = _saved_run(tmp_path, Calibration())
    meta_path = RunDir(tmp_path).model_meta
    meta = json.loads(meta_path.read_text())
    del meta["calibration"]  # model.json as runs wrote it before
    meta_path.write_text(json.dumps(meta))
    assert not RunDir(tmp_path).calibration.exists()
    loaded = load_model(tmp_path)
    assert loaded.calibration == Calibration() and not loaded.calibration.has_unknown
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, unlike = loaded.calibrated()(x)
    assert torch.allclose(logits, classifier(x)) and not unlike.any()


def test_a_damaged_calibration_file_is_one_clear_error(tmp_path):
    _saved_run(tmp_path, _fitted(1.5))
    RunDir(tmp_path).calibration.write_bytes(b"garbage")
    with pytest.raises(Exception, match="cannot read the calibration"):
        load_model(tmp_path)


def test_a_scratch_classifier_is_calibrated_through_its_own_top():
    from transferlab.models.lookup import build_scratch_classifier

    classifier = build_scratch_classifier("conv8-pool-flatten-dense16", None, 3, 32).eval()
    calibrated = Calibrated(classifier, Calibration(2.0))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(calibrated(x)[0], classifier(x) / 2.0, atol=1e-6)
