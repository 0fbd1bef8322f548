"""evaluate_predictions and top_losses against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from transferlab.evaluation import EvaluationResult, evaluate_predictions, top_losses

NAMES = ["a", "b", "c"]
# true:      0    0    0    1    1    2
# predicted: 0    0    1    1    0    2
LABELS = np.array([0, 0, 0, 1, 1, 2])
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.1, 0.8],
    ]
)
P_TRUE = [0.8, 0.6, 0.3, 0.7, 0.4, 0.8]
PATHS = [f"img{i}.png" for i in range(6)]


def test_confusion_accuracy_and_loss_by_hand():
    result = evaluate_predictions(LABELS, PROBS, NAMES)
    assert isinstance(result, EvaluationResult)
    assert result.confusion == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.loss == pytest.approx(-np.mean(np.log(P_TRUE)))
    assert result.num_samples == 6
    assert result.class_names == NAMES


def test_per_class_and_macro_by_hand():
    result = evaluate_predictions(LABELS, PROBS, NAMES)
    # a: predicted at 0,1,4 (2 right), 3 true -> P = R = F1 = 2/3
    assert result.per_class["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    # b: predicted at 2,3 (1 right), 2 true -> 1/2 each
    assert result.per_class["b"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert result.per_class["c"] == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    )
    assert result.macro["f1"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert result.macro["precision"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)


def test_class_absent_from_labels_keeps_its_row_and_is_left_out_of_macro():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    result = evaluate_predictions(labels, probs, NAMES)
    assert result.confusion == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    assert result.per_class["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # a: P=1, R=1/2, F1=2/3; b: P=R=F1=1; macro over a and b only
    assert result.per_class["a"]["f1"] == pytest.approx(2 / 3)
    assert result.macro["f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert result.macro["recall"] == pytest.approx(0.75)


def test_single_sample():
    result = evaluate_predictions(np.array([1]), np.array([[0.3, 0.7]]), ["cat", "dog"])
    assert result.accuracy == 1.0
    assert result.loss == pytest.approx(-math.log(0.7))
    assert result.confusion == [[0, 0], [0, 1]]
    assert result.per_class["dog"]["f1"] == 1.0
    assert result.macro["f1"] == 1.0


def test_zero_probability_of_true_class_gives_finite_clipped_loss():
    result = evaluate_predictions(np.array([0]), np.array([[0.0, 1.0]]), ["x", "y"])
    assert math.isfinite(result.loss)
    assert result.loss == pytest.approx(-math.log(1e-7))


def test_to_dict_is_json_ready():
    result = evaluate_predictions(LABELS, PROBS, NAMES, paths=PATHS, top_k=2)
    data = json.loads(json.dumps(result.to_dict()))
    assert {"accuracy", "loss", "per_class", "confusion", "macro", "class_names"} <= set(data)
    assert data["confusion"] == result.confusion
    assert data["per_class"]["b"]["support"] == 2
    assert [row["path"] for row in data["top_losses"]] == ["img2.png", "img4.png"]


def test_result_is_frozen():
    result = evaluate_predictions(LABELS, PROBS, NAMES)
    with pytest.raises(AttributeError):
        result.accuracy = 1.0  # type: ignore[misc]


def test_top_losses_sorted_descending_with_stable_ties():
    rows = top_losses(LABELS, PROBS, PATHS, k=10)
    # losses -ln p_true: img2 (0.3) > img4 (0.4) > img1 (0.6) > img3 (0.7) > img0 = img5 (0.8)
    order = ["img2.png", "img4.png", "img1.png", "img3.png", "img0.png", "img5.png"]
    assert [r["path"] for r in rows] == order
    assert [r["loss"] for r in rows] == sorted((r["loss"] for r in rows), reverse=True)
    worst = rows[0]
    assert worst["true"] == 0 and worst["predicted"] == 1
    assert worst["prob_true"] == pytest.approx(0.3)
    assert worst["prob_predicted"] == pytest.approx(0.6)
    assert worst["loss"] == pytest.approx(-math.log(0.3))


def test_top_losses_k_bounds_and_names():
    assert top_losses(LABELS, PROBS, PATHS, k=0) == []
    rows = top_losses(LABELS, PROBS, PATHS, k=2, class_names=NAMES)
    assert len(rows) == 2
    assert (rows[0]["true_name"], rows[0]["predicted_name"]) == ("a", "b")


def test_no_paths_means_no_top_losses():
    assert evaluate_predictions(LABELS, PROBS, NAMES).top_losses == []


@pytest.mark.parametrize(
    ("labels", "probs", "names", "paths"),
    [
        (np.array([0, 1]), np.array([[0.5, 0.5]]), ["x", "y"], None),  # N mismatch
        (np.array([0]), np.array([[0.5, 0.5]]), ["x", "y", "z"], None),  # C mismatch
        (np.array([2]), np.array([[0.5, 0.5]]), ["x", "y"], None),  # label out of range
        (np.array([0]), np.array([[0.5, 0.5]]), ["x", "y"], ["a", "b"]),  # path count
        (np.array([], dtype=int), np.zeros((0, 2)), ["x", "y"], None),  # empty
    ],
)
def test_bad_inputs_raise(labels, probs, names, paths):
    with pytest.raises(ValueError):
        evaluate_predictions(labels, probs, names, paths=paths)
