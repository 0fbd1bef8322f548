"""`BackboneChoice`: which pretrained network, with which weights, at which input size."""

from __future__ import annotations

from dataclasses import dataclass

from .backbone import Backbone
from .factory import create_backbone


@dataclass(frozen=True)
class BackboneChoice:
    """A backbone as a run, an advice or an extraction names it.

    Attributes:
        name: a registered backbone name (`transferlab backbones` lists them).
        weights: "none", "imagenet" or a weights file (see `create_backbone`).
        input_size: square input side; None for the weights' own.
    """

    name: str = "efficientnet_lite0"
    weights: str = "imagenet"
    input_size: int | None = None

    def create(self, include_top: bool = False) -> Backbone:
        """The chosen backbone, by default its conv base only."""
        return create_backbone(self.name, self.weights, include_top=include_top, input_size=self.input_size)
