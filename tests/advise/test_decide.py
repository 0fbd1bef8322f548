"""From numbers to the 2x2 guide and a plan: each rule on its own, with its sentence."""

from __future__ import annotations

import pytest

from transferlab.advise.candidates import Candidate
from transferlab.advise.dataset import DatasetFacts
from transferlab.advise.decide import (
    LARGE_PER_CLASS,
    choose_layer,
    finetune_input_size,
    finetune_sides,
    finetune_settings,
    pick_candidate,
    quadrant,
    similarity_votes,
    size_class,
    wants_class_weights,
)
from transferlab.advise.similarity import Similarity
from transferlab.advise.sweep import SweepResult, SweepRow

LAYERS = ["blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6", None]


def _sweep(best_scores, end_scores, best="blocks.5") -> SweepResult:
    rows = (SweepRow("blocks.1", "blocks.1", 24, 0.5, 0.0, (0.5,) * len(end_scores), 1.0),
            SweepRow(best, best, 192, sum(best_scores) / len(best_scores), 0.0, tuple(best_scores), 1.0),
            SweepRow(None, "end", 1280, sum(end_scores) / len(end_scores), 0.0, tuple(end_scores), 0.1))
    return SweepResult(rows, len(end_scores), 100, 1.0)


def _facts(counts: dict) -> DatasetFacts:
    return DatasetFacts("d", tuple(counts), counts, {}, False)


def test_earlier_layer_chosen_only_when_clearly_better_than_the_end():
    layer, why = choose_layer(_sweep([0.99, 1.0, 0.99, 1.0, 0.99], [0.96, 0.97, 0.95, 0.96, 0.97]))
    assert layer == "blocks.5" and "cut at blocks.5" in why
    # better on average but within one standard error of the paired differences: keep the end
    layer, why = choose_layer(_sweep([0.99, 0.95, 1.0, 0.94, 0.99], [0.97, 0.97, 0.97, 0.97, 0.97]))
    assert layer is None and "within one standard error" in why


def test_size_is_small_below_the_threshold_per_class():
    assert size_class(_facts({"a": 1000, "b": 1000}))[0] == "small"
    size, why = size_class(_facts({"a": LARGE_PER_CLASS, "b": 5000, "c": 3}))
    assert size == "large" and "smallest c: 3" in why


def test_similarity_is_the_majority_of_the_signals_with_their_numbers():
    photos = Similarity(sample=100, head_confidence=0.45, head_entropy=0.4, imagenet_classes=[("tabby, cat", 0.3)],
                        bn_shift=0.1, bn_kl=0.03, bn_layers=49)
    textures = Similarity(sample=100, head_confidence=0.08, head_entropy=0.8, bn_shift=0.2, bn_kl=0.27, bn_layers=49)
    sweep = _sweep([0.99] * 5, [0.95] * 5)
    votes, verdict, why = similarity_votes(photos, sweep, None)
    assert verdict == "similar" and "3 of 3" in why and "tabby" in why
    votes, verdict, why = similarity_votes(textures, sweep, "blocks.5")
    assert verdict == "different" and votes["batchnorm_kl"] == {"value": 0.27, "threshold": 0.1, "says": "different"}
    votes, verdict, why = similarity_votes(photos, sweep, "blocks.5")  # the sweep alone disagrees
    assert verdict == "similar" and "2 of 3" in why
    _, verdict, _ = similarity_votes(Similarity(sample=0), sweep, "blocks.5")  # only the sweep measurable
    assert verdict == "different"


def test_quadrant_names_the_notes_advice():
    assert quadrant("small", "different")["notes_advise"] == "a linear classifier on an earlier layer"
    assert quadrant("large", "similar") == {"size": "large", "similarity": "similar", "cell": "large + similar",
                                            "notes_advise": "fine-tuning"}


def _candidate(name, scores):
    return Candidate(name, {}, sum(scores) / len(scores), None, tuple(scores), 1.0)


def test_cheapest_candidate_within_one_standard_error_wins():
    linear = _candidate("linear", [0.95, 0.96, 0.94, 0.95, 0.95])
    noisy_better = _candidate("features", [0.99, 0.93, 0.97, 0.92, 0.97])
    chosen, why = pick_candidate([linear, noisy_better])
    assert chosen is linear and "cheaper" in why
    clearly_better = _candidate("features-aug", [0.99, 0.99, 0.98, 0.99, 0.99])
    chosen, why = pick_candidate([linear, noisy_better, clearly_better])
    assert chosen is clearly_better and "the best" in why
    skipped = Candidate("features-aug", {}, None, None, (), 1.0, "skipped: budget")
    assert pick_candidate([linear, skipped])[0] is linear


def test_unfreeze_depth_read_off_the_sweep():
    assert finetune_settings(LAYERS, None, "similar")[0] == {"unfreeze": 2, "unfreeze_from": None}
    assert finetune_settings(LAYERS, "blocks.4", "similar")[0] == {"unfreeze": 2, "unfreeze_from": "blocks.5"}
    assert finetune_settings(LAYERS, "blocks.6", "similar")[0] == {"unfreeze": 1, "unfreeze_from": None}


@pytest.mark.parametrize("layer", [None, "blocks.1", "blocks.4"])
def test_data_unlike_imagenet_fine_tunes_every_layer(layer):
    settings, why = finetune_settings(LAYERS, layer, "different")
    assert settings == {"unfreeze": -1, "unfreeze_from": None, "lr": 5e-4, "lr_mult": 1.0} and "retrain" in why


def test_class_weights_for_imbalanced_data():
    assert wants_class_weights(_facts({"a": 300, "b": 100}))
    assert not wants_class_weights(_facts({"a": 200, "b": 100}))


@pytest.mark.parametrize("side, size", [(28, 96), (64, 128), (100, 224), (200, None), (500, None)])
def test_small_images_are_fine_tuned_at_twice_their_side_not_the_whole_input(side, size):
    facts = DatasetFacts("d", ("a", "b"), {"a": 5, "b": 5}, {}, False, widths={"median": side + 10.0},
                         heights={"median": float(side)})
    assert finetune_input_size(facts, 256) == size  # the shorter median side counts
    assert finetune_input_size(facts, 224) == (None if size == 224 else size)
    assert finetune_input_size(_facts({"a": 5, "b": 5}), 224) is None  # no sizes measured: the backbone's


@pytest.mark.parametrize("side, sides", [(64, [128, 96, 64]), (28, [96, 64]), (8, [96, 64]), (400, [None, 160, 128]),
                                         (150, [None, 160, 128]), (100, [None, 160, 128])])
def test_smaller_sides_for_a_budget_stop_at_the_images_own_side_or_half_the_input(side, sides):
    facts = DatasetFacts("d", ("a", "b"), {"a": 5, "b": 5}, {}, False, widths={"median": float(side)},
                         heights={"median": float(side)})
    assert finetune_sides(facts, 224) == sides
    assert finetune_sides(_facts({"a": 5, "b": 5}), 224) == [None]  # no sizes measured: the backbone's alone
