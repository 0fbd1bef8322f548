"""The depth sweep: layers probed, CV on train only, the best depth found, and its margin."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.advise.sweep import SweepResult, SweepRow, cv_folds, depth_sweep, sweep_layers
from transferlab.data.scan import stratified_subsample
from transferlab.backbones import create_backbone
from transferlab.features import FeatureSet


def _set(x: np.ndarray, y: np.ndarray) -> FeatureSet:
    return FeatureSet(x.astype(np.float32), y, tuple(f"img{i}" for i in range(len(y))), ())


def _layers(seed: int = 0, n: int = 120) -> dict:
    """Three 'layers' of the same 3-class images: pure noise, weakly and strongly informative."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    centres = rng.normal(size=(3, 8))
    noise = rng.normal(size=(n, 8))
    return {"noise": _set(noise, y), "weak": _set(noise + 0.6 * centres[y], y),
            None: _set(0.2 * noise + centres[y], y)}


def test_sweep_ranks_layers_by_how_much_they_know():
    sweep = depth_sweep(_layers())
    scores = {row.label: row.cv_mean for row in sweep.rows}
    assert [row.label for row in sweep.rows] == ["noise", "weak", "end"]
    assert scores["noise"] < 0.55 < 0.65 < scores["weak"] < scores["end"] == 1.0
    assert sweep.best.label == "end" and sweep.folds == 5 and sweep.samples == 120
    assert all(len(row.fold_scores) == 5 for row in sweep.rows)
    gain, se = sweep.gain_over_end()
    assert gain == 0.0 and se == 0.0


def test_an_earlier_layer_that_beats_the_end_is_best_with_a_positive_margin():
    layers = _layers()
    layers = {"strong": layers[None], "noise": layers["noise"], None: layers["weak"]}
    sweep = depth_sweep(layers)
    gain, se = sweep.gain_over_end()
    assert sweep.best.layer == "strong" and gain > 2 * se > 0
    assert sweep.to_dict()["best"] == "strong" and len(sweep.to_dict()["rows"]) == 3


def test_sweep_layers_cover_every_stage_then_the_end():
    tiny = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    assert sweep_layers(tiny) == ["stem", "stage1", "stage2", None]
    lite = create_backbone("efficientnet_lite0", "none", include_top=False)
    assert sweep_layers(lite) == [f"blocks.{i}" for i in range(7)] + [None]  # every block, not only the 5 stages


def test_folds_follow_the_smallest_class_and_refuse_single_images():
    assert len(cv_folds(np.array([0, 0, 0, 1, 1, 1, 1]), seed=0)) == 3
    assert len(cv_folds(np.repeat([0, 1], 50), seed=0)) == 5
    with pytest.raises(ValueError, match="at least 2"):
        cv_folds(np.array([0, 0, 0, 1]), seed=0)


def test_stratified_subsample_keeps_proportions_and_small_sets_whole():
    labels = np.array([0] * 900 + [1] * 100)
    keep = stratified_subsample(labels, 200, seed=0)
    assert len(keep) == 200 and np.bincount(labels[keep]).tolist() == [180, 20]
    assert len(set(keep.tolist())) == 200
    assert stratified_subsample(labels, 5000, seed=0).tolist() == list(range(1000))


def test_large_sets_are_probed_on_a_subsample():
    layers = _layers(n=300)
    sweep = depth_sweep(layers, max_samples=90)
    assert sweep.samples == 90


def test_gain_standard_error_is_over_paired_folds():
    rows = (SweepRow("a", "a", 4, 0.9, 0.0, (0.9, 0.92, 0.88), 1.0),
            SweepRow(None, "end", 4, 0.8, 0.0, (0.8, 0.8, 0.8), 1.0))
    gain, se = SweepResult(rows, 3, 30, 0.0).gain_over_end()
    assert gain == pytest.approx(0.1) and se == pytest.approx(np.std([0.1, 0.12, 0.08], ddof=1) / np.sqrt(3))
