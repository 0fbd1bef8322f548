"""The notes' MNIST and CIFAR-10 models as named recipes, checked against the notes' summaries."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.errors import UnknownNameError
from transferlab.models.recipes import Recipe, get_recipe, list_recipes

NOTES_TOTALS = {"cifar-conv-dense": 1_845_354, "cifar-conv-pool": 462_954, "cifar-deep": 564_426}


def own_params(model: nn.Module) -> dict[str, int]:
    counts = {name: sum(p.numel() for p in m.parameters(recurse=False)) for name, m in model.named_modules()}
    return {name: count for name, count in counts.items() if count}


def test_list_recipes():
    assert list_recipes() == [
        "cats-dogs-small", "cats-dogs-small-dropout", "cifar-allconv", "cifar-conv-dense", "cifar-conv-pool",
        "cifar-deep", "mnist-conv", "mnist-dense",
    ]  # fmt: skip
    assert list_recipes("mnist-*") == ["mnist-conv", "mnist-dense"]


@pytest.mark.parametrize("name", ["cifar-conv-dense", "cifar-conv-pool", "cifar-deep", "cifar-allconv"])
def test_recipes_match_the_notes_parameter_counts(name):
    recipe = get_recipe(name)
    body = recipe.build().body
    assert own_params(body) == dict(recipe.reference_params)
    if recipe.reference_total is not None:
        assert recipe.reference_total == NOTES_TOTALS[name]
        assert sum(p.numel() for p in body.parameters()) == recipe.reference_total


def test_allconv_total_and_class_maps():
    backbone = get_recipe("cifar-allconv").build()
    assert sum(p.numel() for p in backbone.parameters()) == 1_369_738  # sum of the notes' rows
    assert isinstance(backbone.body.classifier, nn.Conv2d)
    assert not any(isinstance(m, nn.Linear) for m in backbone.modules())  # no dense layers
    x = torch.randn(2, 3, 32, 32)
    assert backbone.features(x, "classifier", pooled=False).shape == (2, 10, 8, 8)
    assert backbone(x).shape == (2, 10)


@pytest.mark.parametrize(("name", "total"), [("mnist-dense", 101_770), ("mnist-conv", 433_290)])
def test_mnist_recipes_are_grayscale_28(name, total):
    backbone = get_recipe(name).build()
    assert backbone.input_size == 28 and backbone.body.in_chans == 1
    assert sum(p.numel() for p in backbone.parameters()) == total
    logits = backbone(torch.randn(3, 1, 28, 28))
    assert logits.shape == (3, 10)
    logits.sum().backward()


@pytest.mark.parametrize("name", ["cats-dogs-small", "cats-dogs-small-dropout"])
def test_cats_dogs_cnn_is_chollets(name):
    # Chollet's summary: 896, 18,496, 73,856, 147,584, 3,211,776 and Dense(1, sigmoid) 513 = 3,453,121.
    recipe = get_recipe(name)
    backbone = recipe.build()
    counts = own_params(backbone.body)
    assert {k: counts[k] for k, _ in recipe.reference_params} == dict(recipe.reference_params)
    assert counts["classifier"] == 512 * 2 + 2  # softmax over 2 classes instead of one sigmoid unit
    assert sum(p.numel() for p in backbone.parameters()) == 3_453_121 - 513 + 1_026
    assert backbone.input_size == 150 and backbone.body.feature_shape == (128, 7, 7)
    assert any(isinstance(m, nn.Dropout) for m in backbone.modules()) == name.endswith("dropout")
    assert backbone(torch.randn(2, 3, 150, 150)).shape == (2, 2)


def test_build_overrides_classes_and_input_size():
    backbone = get_recipe("cifar-conv-pool").build(num_classes=3, input_size=24)
    assert backbone(torch.randn(2, 3, 24, 24)).shape == (2, 3)
    assert own_params(backbone.body)["pre_logits.dense_1"] == 11 * 11 * 64 * 32 + 32  # (24 - 2) / 2 = 11


def test_unknown_recipe_lists_close_names():
    with pytest.raises(UnknownNameError, match="did you mean cifar-deep"):
        get_recipe("cifar-dep")


def test_recipe_is_frozen():
    recipe = get_recipe("cifar-deep")
    assert isinstance(recipe, Recipe)
    with pytest.raises(AttributeError):
        recipe.spec = "conv8"  # type: ignore[misc]
