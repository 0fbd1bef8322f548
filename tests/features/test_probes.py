"""Linear probes: C chosen on validation data, and the same predictions as a torch head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from transferlab.features import fit_probe, probe_to_head
from transferlab.features.probes import DEFAULT_CS, make_probe


def _blobs(classes: int, per_class: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs in 6-D with centres 5 apart, features on very different scales."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(0, 5, (classes, 6))
    labels = np.repeat(np.arange(classes), per_class)
    features = centres[labels] + rng.normal(0, spread, (len(labels), 6))
    return (features * [1, 10, 0.1, 3, 100, 1] + 7).astype(np.float32), labels


@pytest.mark.parametrize("classes", [2, 3])
def test_fit_probe_on_separable_features_picks_the_lowest_log_loss(classes):
    train_x, train_y = _blobs(classes, 30, seed=0)
    val_x, val_y = _blobs(classes, 10, seed=1)
    result = fit_probe(train_x, train_y, val_x, val_y)
    assert set(result.scores) == set(DEFAULT_CS) and result.C in DEFAULT_CS
    assert result.val_accuracy == 1.0 == result.scores[result.C]
    losses = {C: log_loss(val_y, make_probe("logistic", C).fit(train_x, train_y).predict_proba(val_x))
              for C in DEFAULT_CS}
    assert result.C == min(losses, key=losses.get)


def test_fit_probe_svm_prefers_the_smaller_c_on_ties():
    train_x, train_y = _blobs(2, 30, seed=0)
    val_x, val_y = _blobs(2, 10, seed=1)
    result = fit_probe(train_x, train_y, val_x, val_y, kind="svm")
    assert result.val_accuracy == 1.0
    assert result.C == min(C for C, acc in result.scores.items() if acc == 1.0)


@pytest.mark.parametrize("classes, kind", [(2, "logistic"), (3, "logistic"), (2, "svm"), (3, "svm")])
def test_probe_to_head_predicts_as_the_sklearn_pipeline(classes, kind):
    train_x, train_y = _blobs(classes, 30, seed=0, spread=3.0)
    test_x, _ = _blobs(classes, 20, seed=2, spread=3.0)
    pipeline = make_probe(kind, C=0.1).fit(train_x, train_y)
    head = probe_to_head(pipeline, classes).eval()
    with torch.no_grad():
        logits = head(torch.as_tensor(test_x)).numpy()
    assert logits.shape == (len(test_x), classes)
    np.testing.assert_array_equal(logits.argmax(1), pipeline.predict(test_x))
    if kind == "logistic":
        probs = torch.as_tensor(logits).softmax(1).numpy()
        np.testing.assert_allclose(probs, pipeline.predict_proba(test_x), atol=1e-5)
    else:
        decision = pipeline.decision_function(test_x)
        expected = decision if classes > 2 else np.stack([-decision / 2, decision / 2], 1)
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
