"""Temperature scaling lowers the calibration error of an over-confident classifier."""

from __future__ import annotations

import numpy as np

from transferlab.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    softmax,
)


def _overconfident(n: int = 2000, classes: int = 4, seed: int = 0):
    """Logits whose softmax is calibrated at T = 1, then sharpened 4x: an over-confident head."""
    rng = np.random.default_rng(seed)
    calibrated = rng.normal(0, 1.0, (n, classes))
    probs = softmax(calibrated)
    labels = np.array([rng.choice(classes, p=p) for p in probs])  # labels drawn from the calibrated model
    return calibrated * 4.0, labels


def test_the_fitted_temperature_undoes_the_sharpening_and_the_ece_falls():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert 3.0 < temperature < 5.0
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    assert after < before / 3 and after < 0.05
    assert (softmax(logits, temperature).argmax(1) == softmax(logits).argmax(1)).all()  # same predictions


def test_reliability_bins_count_every_prediction_and_a_perfect_model_has_no_gap():
    probs = np.eye(3)[[0, 1, 2, 0]]
    bins = reliability_bins(probs, np.array([0, 1, 2, 0]))
    assert bins.counts.sum() == 4 and bins.counts[-1] == 4 and bins.ece == 0.0
    wrong = reliability_bins(probs, np.array([1, 1, 2, 0]))
    assert wrong.ece == 0.25
