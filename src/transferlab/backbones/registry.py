"""Registry of named backbones: register by decorator, look up by name, fail helpfully.

The built-in backbones are a plain table (`catalog.builtin_specs`), not registered by importing
a module: the lookups load that table explicitly, once, on first use (`_registry`). This keeps
`import transferlab` from importing timm and torchvision, and no module relies on another having
been imported for its side effect. `register_backbone` adds a backbone of your own to the same
registry.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable

from torch import nn

from ..errors import unknown_name
from .spec import BackboneSpec


def register_backbone(name: str, **spec_fields) -> Callable:
    """Decorator: register `fn(pretrained) -> nn.Module` as backbone `name` (the other `BackboneSpec` fields)."""

    def decorator(build: Callable[[bool], nn.Module]) -> Callable[[bool], nn.Module]:
        _add(_registry(), BackboneSpec(name=name, build=build, **spec_fields))
        return build

    return decorator


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, sorted."""
    return sorted(n for n in _registry() if fnmatch.fnmatch(n, pattern))


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec registered as `name`; an unknown name lists the closest ones."""
    registry = _registry()
    try:
        return registry[name]
    except KeyError:
        raise unknown_name("backbone", name, sorted(registry)) from None


@functools.cache
def _registry() -> dict[str, BackboneSpec]:
    """Name -> spec: the built-in catalog, loaded here on first use, then whatever was registered."""
    from .catalog import builtin_specs  # timm and torchvision load with it, when a backbone is first needed

    registry: dict[str, BackboneSpec] = {}
    for spec in builtin_specs():
        _add(registry, spec)
    return registry


def _add(registry: dict[str, BackboneSpec], spec: BackboneSpec) -> None:
    if spec.name in registry:
        raise ValueError(f"backbone '{spec.name}' is already registered")
    registry[spec.name] = spec
