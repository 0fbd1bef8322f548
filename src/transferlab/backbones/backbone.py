"""One interface for every backbone, whatever library built it."""

from __future__ import annotations

from functools import cached_property

import torch
from torch import nn

from .hooks import forward_until, resolve_layer
from .preprocessing import Preprocessing
from .spec import BackboneSpec


class Backbone(nn.Module):
    """A named CNN with its weights id and preprocessing.

    `forward` returns logits when the top is included, otherwise the final feature maps
    (or their global average/max pool, as Keras' `pooling=`).

    Args:
        body: a module with timm's interface (`forward_features`, `forward_head`,
            `reset_classifier`).
        spec: the registry entry it was built from.
        weights_id: where the weights came from ("none", "packaged:...", "imagenet:...", "file:...").
        preprocessing: input expected by the weights, at the chosen input size.
        include_top: keep the classifier (ImageNet's or a new one).
        pooling: for `include_top=False`: None (maps), "avg" or "max".
    """

    def __init__(
        self,
        body: nn.Module,
        spec: BackboneSpec,
        weights_id: str,
        preprocessing: Preprocessing,
        include_top: bool = True,
        pooling: str | None = None,
    ):
        super().__init__()
        self.body = body
        self.spec = spec
        self.weights_id = weights_id
        self.preprocessing = preprocessing
        self.include_top = include_top
        self.pooling = pooling
        if not include_top:
            _drop_top(body)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @cached_property
    def feature_dim(self) -> int:
        """Channels of `forward_features` (measured once on a small input)."""
        side = max(self.spec.min_input_size, 32)
        param = next(self.body.parameters())
        channels = int(getattr(self.body, "in_chans", 3))
        probe = torch.zeros(1, channels, side, side, device=param.device, dtype=param.dtype)
        was_training = self.body.training
        self.body.eval()
        with torch.no_grad():
            dim = int(self.body.forward_features(probe).shape[1])
        self.body.train(was_training)
        return dim

    @property
    def num_classes(self) -> int:
        return int(getattr(self.body, "num_classes", 0)) if self.include_top else 0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> final feature maps (B, C, h, w)."""
        return self.body.forward_features(x)

    def forward_head(self, maps: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature maps -> logits (or the pooled pre-logit features)."""
        return self.body.forward_head(maps, pre_logits=pre_logits)

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier with a new, randomly initialised one for `num_classes`."""
        self.body.reset_classifier(num_classes)
        self.include_top = num_classes > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.include_top:
            return self.body(x)
        maps = self.forward_features(x)
        if self.pooling == "avg":
            return maps.mean(dim=(2, 3))
        if self.pooling == "max":
            return maps.amax(dim=(2, 3))
        return maps

    def layer_names(self) -> list[str]:
        """Names of every submodule, usable as feature taps and hook targets."""
        return [n for n, _ in self.body.named_modules() if n]

    def layer(self, name: str) -> nn.Module:
        """The submodule called `name` (helpful error if unknown)."""
        return resolve_layer(self.body, name)

    @cached_property
    def stages(self) -> tuple[str, ...]:
        """Stage outputs from shallow to deep (for depth sweeps and unfreezing)."""
        if self.spec.stages:
            return self.spec.stages
        names = [info["module"] for info in getattr(self.body, "feature_info", [])]
        return tuple(dict.fromkeys(names))

    def features(self, x: torch.Tensor, layer: str | None = None, pooled: bool = True) -> torch.Tensor:
        """Features at `layer` (None: the end of the conv base), pooled to (B, C) or as maps."""
        if layer is None:
            maps = self.forward_features(x)
        else:
            maps = forward_until(self.body, x, [layer])[layer]
        if pooled and maps.dim() == 4:
            return maps.mean(dim=(2, 3))
        return maps


def _drop_top(body: nn.Module) -> None:
    """Remove the classifier and any dense pre-logits (VGG's fc6/fc7), as Keras' include_top=False."""
    body.reset_classifier(0)
    pre_logits = getattr(body, "pre_logits", None)
    if pre_logits is not None and any(True for _ in pre_logits.parameters()):
        body.pre_logits = nn.Identity()
