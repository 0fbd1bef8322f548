"""One name for any network: a registered backbone, one of the notes' recipes, or a spec string."""

from __future__ import annotations

import os

from ..backbones import Backbone, create_backbone
from .recipes import get_recipe, list_recipes
from .scratch import build_scratch_backbone, is_scratch_spec

SPEC_CLASSES = 10  # a bare spec gets the notes' ten classes (MNIST, CIFAR-10)
SPEC_INPUT_SIZE = 32


def build_named_model(
    name: str,
    weights: str | os.PathLike | None = "none",
    include_top: bool = True,
    input_size: int | None = None,
    num_classes: int | None = None,
) -> Backbone:
    """Build `name`: a backbone (`vgg16`), a recipe (`cifar-deep`) or a spec (`conv64-pool-flatten-dense32`).

    Args:
        name: what to build; backbones win over recipes, recipes over specs.
        weights: "none", "imagenet" (backbones only) or a weights file.
        include_top: keep the classifier (dense layers of a spec or recipe included).
        input_size: square input side (default: the backbone's, the recipe's, or 32 for a spec).
        num_classes: classes of a new head (default: ImageNet's 1000, the recipe's, or 10 for a spec).

    Raises:
        UnknownNameError: `name` is none of the three; the closest backbone names are listed.
    """
    if name in list_recipes():
        net = get_recipe(name).build(num_classes=num_classes, input_size=input_size, weights=weights)
    elif is_scratch_spec(name):
        net = build_scratch_backbone(name, num_classes or SPEC_CLASSES, input_size or SPEC_INPUT_SIZE,
                                     weights=weights)
    else:
        return create_backbone(name, weights, include_top=include_top, num_classes=num_classes,
                               input_size=input_size)
    if not include_top:
        net = Backbone(net.body, net.spec, net.weights_id, net.preprocessing, include_top=False)
    return net


def in_channels(model: Backbone) -> int:
    """Image channels the model takes (1 for the notes' MNIST recipes, else 3)."""
    return len(model.preprocessing.mean)

