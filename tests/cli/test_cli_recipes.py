"""`transferlab recipes` and `summary RECIPE`: the notes' parameter counts, computed on built models."""

from __future__ import annotations

import json

import pytest

from transferlab.cli.main import main

# The notes' Keras summaries (notes 003) and Chollet's dogs-vs-cats CNN, layer by layer.
NOTES_LAYERS = {
    "cifar-conv-dense": {"features.conv2d_1": 1_792, "pre_logits.dense_1": 1_843_232, "classifier": 330},
    "cifar-conv-pool": {"features.conv2d_1": 1_792, "pre_logits.dense_1": 460_832, "classifier": 330},
    "cifar-deep": {"features.conv2d_1": 1_792, "features.conv2d_2": 36_928, "pre_logits.dense_1": 524_416,
                   "classifier": 1_290},
    "cats-dogs-small": {"features.conv2d_1": 896, "features.conv2d_2": 18_496, "features.conv2d_3": 73_856,
                        "features.conv2d_4": 147_584, "pre_logits.dense_1": 3_211_776},
}
NOTES_TOTALS = {"cifar-conv-dense": 1_845_354, "cifar-conv-pool": 462_954, "cifar-deep": 564_426}


def _json(capsys, *argv: str):
    assert main(["recipes", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_recipes_json_counts_match_the_notes(capsys):
    infos = {i["name"]: i for i in _json(capsys)}
    assert set(infos) >= set(NOTES_LAYERS) | {"mnist-dense", "mnist-conv", "cifar-allconv", "cats-dogs-small-dropout"}
    for name, layers in NOTES_LAYERS.items():
        computed = infos[name]["layer_parameters"]
        assert {k: computed[k] for k in layers} == layers, name
        assert infos[name]["notes_layer_parameters"] == layers
    for name, total in NOTES_TOTALS.items():
        assert infos[name]["parameters"] == infos[name]["notes_total"] == total
    # Pooling cuts the dense layer to a quarter (57,600 -> 14,400 inputs).
    assert infos["cifar-conv-pool"]["layer_parameters"]["pre_logits.dense_1"] * 4 - 3 * 32 == 1_843_232
    assert infos["mnist-conv"]["input"] == [28, 28, 1] and infos["mnist-conv"]["parameters"] == 433_290
    assert infos["cats-dogs-small"]["parameters"] == infos["cats-dogs-small-dropout"]["parameters"] == 3_453_634


def test_recipes_table(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip() and ":" not in line}
    assert "1,845,354" in rows["cifar-conv-dense"] and "same (3)" in rows["cifar-conv-dense"]
    assert "564,426" in rows["cifar-deep"] and "32x32x3" in rows["cifar-deep"]
    assert "101,770" in rows["mnist-dense"] and "28x28x1" in rows["mnist-dense"]
    assert "mnist-conv: one Conv2D(64, 3) layer" in out


def test_recipes_pattern_and_no_match(capsys):
    assert [i["name"] for i in _json(capsys, "mnist-*")] == ["mnist-conv", "mnist-dense"]
    assert main(["recipes", "vgg*"]) == 2
    assert "no recipe matches 'vgg*'" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "counts"), [
    ("cifar-conv-dense", ("1,792", "1,843,232", "330", "1,845,354")),
    ("cifar-conv-pool", ("1,792", "460,832", "462,954")),
    ("cifar-deep", ("1,792", "36,928", "524,416", "1,290", "564,426")),
    ("mnist-conv", ("640", "432,650", "433,290")),
])
def test_summary_prints_the_notes_counts(capsys, name, counts):
    assert main(["summary", name]) == 0
    out = capsys.readouterr().out
    for count in counts:
        assert count in out, (name, count)
