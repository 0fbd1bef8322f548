"""Forward hooks scoped by context managers: capture named layers' outputs, always removed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..errors import unknown_name


class _EnoughCaptured(Exception):
    """Raised inside a hook to skip the rest of the forward pass."""


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`; an unknown name lists the closest valid ones."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        raise unknown_name("layer", name, [n for n in modules if n])
    return modules[name]


@contextlib.contextmanager
def capture(model: nn.Module, layers: Sequence[str], stop_early: bool = False) -> Iterator[dict]:
    """Capture the outputs of `layers` into the yielded dict while the context is open.

    With `stop_early`, the forward pass is cut once every layer has been seen; run it
    through `forward_until` so the cut is caught.
    """
    captured: dict[str, torch.Tensor] = {}
    wanted = set(layers)

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            captured[name] = output
            if stop_early and wanted.issubset(captured):
                raise _EnoughCaptured

        return hook

    handles = [resolve_layer(model, n).register_forward_hook(make_hook(n)) for n in layers]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def forward_until(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Run `model` on `x` only as far as needed to get the outputs of `layers`."""
    with capture(model, layers, stop_early=True) as captured:
        try:
            model(x)
        except _EnoughCaptured:
            pass
    missing = [n for n in layers if n not in captured]
    if missing:
        raise RuntimeError(f"layers {missing} were not reached by the forward pass")
    return dict(captured)
