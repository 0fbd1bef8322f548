"""Every module hook transferlab registers, scoped by one context manager that always removes them.

`hooked` is the only place hooks are registered: feature taps, visualisations, the depth
sweep, the similarity signals, the BatchNorm fold and the receptive field all go through it,
and its hooks are removed when the block ends, also on an exception. On top of it, `capture`
records named layers' outputs and `forward_until` runs a network only as far as they need.

The rule for a layer that runs more than once while `capture` is open (a module shared by
two branches, or called in a loop): its first output is kept, later calls are ignored. A
layer whose output is a tuple or list is recorded as its first element; a layer that outputs
no tensor is not recorded. `hooked` itself calls its hooks on every call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import TransferlabError, unknown_name

ForwardHook = Callable[[nn.Module, tuple, Any], Any]  # (module, inputs, output) -> replacement or None
PreHook = Callable[[nn.Module, tuple], Any]  # (module, inputs) -> replacement inputs or None

# What `capture` records of a layer's output:
# "output": the tensor itself (no copy, the gradient graph kept; later in-place operations of
#     the network, `x += shortcut` or `ReLU(inplace=True)`, can change it);
# "detached": a detached copy that nothing later can change;
# "cut": a copy that requires grad and that the rest of the network uses, so
#     `autograd.grad(score, recorded)` works even with frozen weights and stops there (Grad-CAM);
# "through": a copy that the rest of the network uses, still connected to the input
#     (activation maximisation).
MODES = ("output", "detached", "cut", "through")


class HookError(TransferlabError):
    """A hooked layer that gave no tensor output in the forward pass."""


class _Enough(Exception):
    """Raised inside a hook once every wanted layer has run, to skip the rest of the network.

    It carries the recording it completes: a `forward_until` nested inside another one's forward
    pass (a classifier cut at a layer, seen by `viz`) lets the outer one's pass through.
    """

    def __init__(self, recorded: dict):
        super().__init__()
        self.recorded = recorded


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`; an unknown name lists the closest valid ones."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        raise unknown_name("layer", name, [n for n in modules if n])
    return modules[name]


@contextlib.contextmanager
def hooked(
    forward: Iterable[tuple[nn.Module, ForwardHook]] = (),
    pre: Iterable[tuple[nn.Module, PreHook]] = (),
) -> Iterator[None]:
    """Register forward hooks and forward pre-hooks for the duration of the block.

    Args:
        forward: (module, hook) pairs; `hook(module, inputs, output)` runs after each call
            of `module` and may return a replacement output.
        pre: (module, hook) pairs; `hook(module, inputs)` runs before each call of `module`.

    Every hook is removed when the block ends, also when it raises (or when building the
    pairs raises halfway).
    """
    handles = []
    try:
        for module, hook in forward:
            handles.append(module.register_forward_hook(hook))
        for module, hook in pre:
            handles.append(module.register_forward_pre_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture(
    root: nn.Module, layers: Sequence[str], mode: str = "output", stop: bool = False
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named `layers` of `root` into the yielded dict (first call kept).

    Args:
        root: the module the names are relative to.
        layers: module names; an unknown one raises, listing the closest.
        mode: what is recorded, one of `MODES` ("output": the tensor itself).
        stop: cut the forward pass once every layer ran; run it through `forward_until`,
            which catches the cut.

    Raises:
        UnknownNameError: an unknown layer or mode.
    """
    if mode not in MODES:
        raise unknown_name("capture mode", mode, MODES)
    recorded: dict[str, torch.Tensor] = {}
    wanted = set(layers)

    def make_hook(name: str) -> ForwardHook:
        def hook(_module, _inputs, output):
            several = isinstance(output, (tuple, list))
            tensor = output[0] if several and output else output
            if name in recorded or not isinstance(tensor, torch.Tensor):
                return None
            recorded[name] = _copy(tensor, mode)
            if stop and wanted.issubset(recorded):
                raise _Enough(recorded)
            if mode in ("output", "detached"):
                return None
            return (recorded[name], *output[1:]) if several else recorded[name]

        return hook

    with hooked((resolve_layer(root, name), make_hook(name)) for name in dict.fromkeys(layers)):
        yield recorded


def forward_until(
    model: nn.Module,
    inputs: torch.Tensor,
    layers: Sequence[str],
    root: nn.Module | None = None,
    mode: str = "output",
    must_reach: bool = True,
) -> dict[str, torch.Tensor]:
    """Run `model` on `inputs` only as far as needed to record the outputs of `layers`.

    Args:
        model: the network to run.
        inputs: its input batch.
        layers: the layers to record.
        root: the module that layer names are relative to (default: `model`).
        mode: as in `capture`.
        must_reach: raise if a layer gave no output (else it is simply missing from the result).

    Raises:
        UnknownNameError: an unknown layer.
        HookError: with `must_reach`, a layer that the forward pass did not reach.
    """
    with capture(model if root is None else root, layers, mode=mode, stop=True) as recorded:
        try:
            model(inputs)
        except _Enough as enough:
            if enough.recorded is not recorded:
                raise
    missing = [name for name in layers if name not in recorded]
    if missing and must_reach:
        raise HookError(f"layers {missing} do not run (or give no tensor) in this model's forward pass")
    return dict(recorded)


def live_hooks(model: nn.Module) -> list[str]:
    """Names of the modules of `model` that carry forward or backward hooks ("" for `model`)."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return [name for name, module in model.named_modules() if any(getattr(module, k, None) for k in kinds)]


def _copy(tensor: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "output":
        return tensor
    if mode == "detached":
        return tensor.detach().clone()
    if mode == "cut":
        return tensor.detach().clone().requires_grad_(True)
    return tensor.clone()
