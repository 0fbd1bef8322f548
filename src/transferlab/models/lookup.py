"""One name for any network: a registered backbone, one of the notes' recipes, or a spec string.

`model_kind` is the one place that tells the three apart; `build_named_model` builds any of
them and `build_scratch_classifier` the network of the `scratch` strategy.
"""

from __future__ import annotations

import os

from ..backbones import Backbone, create_backbone
from ..errors import unknown_name
from .classifier import Classifier
from .recipes import get_recipe, list_recipes
from .scratch import build_scratch_backbone, is_scratch_spec

SPEC_CLASSES = 10  # a bare spec gets the notes' ten classes (MNIST, CIFAR-10)
SPEC_INPUT_SIZE = 32


def model_kind(name: str) -> str:
    """What `name` is: "recipe", "spec" or "backbone" (a recipe wins over a spec, a spec over a backbone)."""
    if name in list_recipes():
        return "recipe"
    if is_scratch_spec(name):
        return "spec"
    return "backbone"


def build_named_model(
    name: str,
    weights: str | os.PathLike | None = "none",
    include_top: bool = True,
    input_size: int | None = None,
    num_classes: int | None = None,
) -> Backbone:
    """Build `name`: a backbone (`vgg16`), a recipe (`cifar-deep`) or a spec (`conv64-pool-flatten-dense32`).

    Args:
        name: what to build; a recipe name wins over a spec, a spec over a backbone (`model_kind`).
        weights: "none", "imagenet" (backbones only) or a weights file.
        include_top: keep the classifier (dense layers of a spec or recipe included).
        input_size: square input side (default: the backbone's, the recipe's, or 32 for a spec).
        num_classes: classes of a new head (default: ImageNet's 1000, the recipe's, or 10 for a spec).

    Raises:
        UnknownNameError: `name` is none of the three; the closest backbone names are listed.
    """
    kind = model_kind(name)
    if kind == "backbone":
        return create_backbone(name, weights, include_top=include_top, num_classes=num_classes,
                               input_size=input_size)
    if kind == "recipe":
        net = get_recipe(name).build(num_classes=num_classes, input_size=input_size, weights=weights)
    else:
        net = build_scratch_backbone(name, num_classes or SPEC_CLASSES, input_size or SPEC_INPUT_SIZE,
                                     weights=weights)
    if not include_top:
        net = Backbone(net.body, net.spec, net.weights_id, net.preprocessing, include_top=False)
    return net


def build_scratch_classifier(model: str | None, backbone: str, num_classes: int, input_size: int | None) -> Classifier:
    """The `scratch` strategy's network, random weights and its own top: recipe or spec `model`, else `backbone`.

    Raises:
        UnknownNameError: `model` is neither a recipe nor a spec (the recipes are listed).
    """
    if model is None:
        net = create_backbone(backbone, "none", include_top=True, num_classes=num_classes, input_size=input_size)
    elif model_kind(model) == "backbone":
        raise unknown_name("scratch model (recipe or spec)", model, list_recipes())
    else:
        net = build_named_model(model, "none", include_top=True, input_size=input_size, num_classes=num_classes)
    return Classifier(net, None)


def in_channels(model: Backbone) -> int:
    """Image channels the model takes (1 for the notes' MNIST recipes, else 3)."""
    return len(model.preprocessing.mean)
