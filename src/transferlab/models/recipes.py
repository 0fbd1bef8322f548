"""The course notes' small CNNs (MNIST and CIFAR-10, notes 003) as named scratch specs.

Each recipe keeps the notes' parameter counts, keyed by our module names, so a test can check
that `cifar-deep` really is the notes' 564,426-parameter network. Keras names in the notes
(`conv2d_5`, `dense_2`) depend on how many layers the notebook had built before; ours restart
at 1 and the last Dense is `classifier`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ..backbones import Backbone
from ..errors import unknown_name
from .scratch import build_scratch_backbone


@dataclass(frozen=True)
class Recipe:
    """A named scratch CNN from the notes.

    Attributes:
        name: recipe name (`cifar-deep`).
        spec: scratch spec (see `transferlab.models.scratch`).
        input_size: square input side of the notes' dataset.
        in_channels: 1 for MNIST, 3 for CIFAR-10.
        num_classes: classes of the notes' dataset.
        description: one line: what the notes show with it.
        reference_params: (module name, parameters) from the notes' `model.summary()`.
        reference_total: the notes' "Total params", or None where the notes give none.
    """

    name: str
    spec: str
    input_size: int
    in_channels: int
    num_classes: int
    description: str
    reference_params: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    reference_total: int | None = None

    def build(
        self, num_classes: int | None = None, input_size: int | None = None, weights: str | None = None
    ) -> Backbone:
        """The recipe as a `Backbone`, optionally for another number of classes or input size.

        A different input size changes the parameters of the layer after `flatten`.
        """
        return build_scratch_backbone(
            self.spec,
            num_classes=self.num_classes if num_classes is None else num_classes,
            input_size=input_size or self.input_size,
            in_channels=self.in_channels,
            weights=weights,
        )


_ALLCONV = "conv96-conv96-conv96s2-conv192-conv192-conv192s2-conv192-conv192k1-convhead-gap"
_CATS_DOGS = "conv32v-pool-conv64v-pool-conv128v-pool-conv128v-pool-flatten-{dropout}dense512"
_CATS_DOGS_PARAMS = (
    ("features.conv2d_1", 896),
    ("features.conv2d_2", 18_496),
    ("features.conv2d_3", 73_856),
    ("features.conv2d_4", 147_584),
    ("pre_logits.dense_1", 3_211_776),
)  # Keras' last layer is Dense(1, sigmoid): 513 parameters; ours, softmax over 2 classes, has 1,026

_RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "mnist-dense",
            "flatten-dense128",
            28,
            1,
            10,
            "feed-forward network on the raw pixels (notes: 0.93 test accuracy)",
        ),
        Recipe(
            "mnist-conv",
            "conv64v-flatten",
            28,
            1,
            10,
            "one Conv2D(64, 3) layer, Flatten, Dense(n_classes) (notes: 0.98 test accuracy)",
        ),
        Recipe(
            "cifar-conv-dense",
            "conv64v-flatten-dense32",
            32,
            3,
            10,
            "Conv2D(64, 3), Flatten, Dense(32): almost 2 million parameters for 32 hidden units",
            (("features.conv2d_1", 1_792), ("pre_logits.dense_1", 1_843_232), ("classifier", 330)),
            1_845_354,
        ),
        Recipe(
            "cifar-conv-pool",
            "conv64v-pool-flatten-dense32",
            32,
            3,
            10,
            "Conv2D(64, 3), MaxPooling2D(2), Flatten, Dense(32): pooling cuts parameters to a quarter",
            (("features.conv2d_1", 1_792), ("pre_logits.dense_1", 460_832), ("classifier", 330)),
            462_954,
        ),
        Recipe(
            "cifar-deep",
            "conv64-pool-conv64-pool-flatten-dense128",
            32,
            3,
            10,
            "two Conv2D(64, 3, 'same') + MaxPooling2D blocks, Dense(128) (notes: 0.70 test accuracy)",
            (
                ("features.conv2d_1", 1_792),
                ("features.conv2d_2", 36_928),
                ("pre_logits.dense_1", 524_416),
                ("classifier", 1_290),
            ),
            564_426,
        ),
        Recipe(
            "cifar-allconv",
            _ALLCONV,
            32,
            3,
            10,
            "All-Convolutional net: no dense layers, a 1x1 conv to the classes, global average pooling",
            (
                ("features.conv2d_1", 2_688),
                ("features.conv2d_2", 83_040),
                ("features.conv2d_3", 83_040),
                ("features.conv2d_4", 166_080),
                ("features.conv2d_5", 331_968),
                ("features.conv2d_6", 331_968),
                ("features.conv2d_7", 331_968),
                ("features.conv2d_8", 37_056),
                ("classifier", 1_930),
            ),
        ),
        # Chollet's small dogs-vs-cats convnet (notebook 5.2), 150x150 RGB; Keras' total is 3,453,121.
        Recipe(
            "cats-dogs-small",
            _CATS_DOGS.format(dropout=""),
            150,
            3,
            2,
            "the notes' dogs-vs-cats CNN from scratch, 2,000 training photos (notes: about 0.70)",
            _CATS_DOGS_PARAMS,
        ),
        Recipe(
            "cats-dogs-small-dropout",
            _CATS_DOGS.format(dropout="dropout0.5-"),
            150,
            3,
            2,
            "the same CNN with Dropout(0.5) after Flatten, trained with augmentation (notes: about 0.82)",
            _CATS_DOGS_PARAMS,
        ),
    )
}


def list_recipes(pattern: str = "*") -> list[str]:
    """Recipe names matching a shell-style pattern, sorted."""
    return sorted(name for name in _RECIPES if fnmatch.fnmatch(name, pattern))


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name lists the closest ones."""
    try:
        return _RECIPES[name]
    except KeyError:
        raise unknown_name("recipe", name, sorted(_RECIPES)) from None
