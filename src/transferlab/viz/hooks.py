"""Forward hooks for visualisation, scoped by context managers that always remove them.

Unlike `backbones.taps.capture`, the recorded output is a copy: later in-place operations of
the network (`x += shortcut`, `ReLU(inplace=True)`) cannot change what was recorded, and the
copy can be the start of the gradient graph (Grad-CAM) or stay connected to the input
(activation maximisation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..backbones import resolve_layer

GRAD_MODES = ("none", "cut", "through")


class _Stop(Exception):
    """Raised inside a hook once every wanted layer has run, to skip the rest of the network."""


@contextlib.contextmanager
def record(
    root: nn.Module, layers: Sequence[str], grad: str = "none", stop: bool = False
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named `layers` of `root` into the yielded dict.

    Args:
        root: the module the names are relative to (see `layers.layer_root`).
        layers: module names; an unknown one raises, listing the closest.
        grad: "none": a detached copy; "cut": a copy that requires grad and that the rest of the
            network uses, so `autograd.grad(score, recorded)` works even with frozen weights
            and stops there; "through": a copy still connected to the input.
        stop: raise `_Stop` once all `layers` ran; use `run_until`, which catches it.
    """
    if grad not in GRAD_MODES:
        raise ValueError(f"grad must be one of {GRAD_MODES}, not '{grad}'")
    recorded: dict[str, torch.Tensor] = {}
    wanted = set(layers)

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if name in recorded or not isinstance(tensor, torch.Tensor):
                return None
            copy = _copy(tensor, grad)
            recorded[name] = copy
            if stop and wanted.issubset(recorded):
                raise _Stop
            if grad == "none":
                return None
            return (copy, *output[1:]) if isinstance(output, (tuple, list)) else copy

        return hook

    handles = [resolve_layer(root, name).register_forward_hook(make_hook(name)) for name in layers]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def run_until(
    model: nn.Module,
    root: nn.Module,
    inputs: torch.Tensor,
    layers: Sequence[str],
    must_reach: bool = True,
    grad: str = "none",
) -> dict[str, torch.Tensor]:
    """Run `model` on `inputs` only as far as needed to record `layers`.

    Args:
        model: the network to run.
        root: the module that layer names are relative to.
        inputs: its input batch.
        layers: the layers to record.
        must_reach: raise if a layer never ran (else it is simply missing from the result).
        grad: as in `record` ("none": detached copies; "through": connected to `inputs`).

    Raises:
        ValueError: with `must_reach`, a layer that the forward pass never reached.
    """
    with record(root, layers, grad=grad, stop=True) as recorded:
        try:
            model(inputs)
        except _Stop:
            pass
    missing = [name for name in layers if name not in recorded]
    if missing and must_reach:
        raise ValueError(f"layers {missing} do not run in this model's forward pass")
    return dict(recorded)


def _copy(tensor: torch.Tensor, grad: str) -> torch.Tensor:
    if grad == "none":
        return tensor.detach().clone()
    if grad == "cut":
        return tensor.detach().clone().requires_grad_(True)
    return tensor.clone()
