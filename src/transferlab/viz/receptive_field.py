"""Analytic receptive fields of every layer, traced through one forward pass (branches included).

Each tensor produced from the input carries, per spatial axis (height, width):

* ``size``: how many input pixels one unit sees,
* ``jump``: the distance in input pixels between neighbouring units (the cumulative stride),
* ``start``: the input coordinate of the centre of unit 0 (pixel centres at 0, 1, 2, ...).

The textbook chain rule for a layer with kernel k, stride s, padding p and dilation d is
``size += (d*(k-1)) * jump``, ``start += (d*(k-1)/2 - p) * jump``, ``jump *= s``. Instead of
walking a chain of modules, a `TorchFunctionMode` applies it to every conv2d / pooling / pad
call, whatever module made it, and merges the inputs of element-wise ops and `cat` (a residual
sum sees the union of both branches' fields). That handles ResNet, Inception and EfficientNet
(including TF 'same' padding done with `F.pad`) without a per-architecture table.

A tensor squeezed to 1x1 by a global pooling (a squeeze-and-excitation gate, a classifier
input) is *global*: it depends on the whole image. When it gates a spatial tensor, the result
keeps the spatial field of the gated tensor and is flagged `global_context`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..backbones import hooked, resolve_layer
from .layers import layer_root

_ATTR = "_transferlab_rf"


@dataclass(frozen=True)
class ReceptiveField:
    """The field of view of one layer's units in input pixels, per axis (height, width).

    Attributes:
        size: input pixels seen by one unit.
        jump: input pixels between neighbouring units (cumulative stride).
        start: input coordinate of the centre of unit (0, 0); may be negative or fractional.
        global_context: the units also see the whole image through a global gate
            (squeeze-and-excitation); `size` is then the field of the spatial path only.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    global_context: bool = False

    def box(self, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Input pixels seen by unit (row, col), clipped to the image: (top, left, bottom, right).

        Bottom and right are exclusive, as in slicing `image[top:bottom, left:right]`.
        """
        top, bottom = _span(self.start[0] + row * self.jump[0], self.size[0], height)
        left, right = _span(self.start[1] + col * self.jump[1], self.size[1], width)
        return top, left, bottom, right

    def describe(self) -> str:
        """"196" for a square field, "7x1" otherwise; "+global" when a gate sees everything."""
        text = str(self.size[0]) if self.size[0] == self.size[1] else f"{self.size[0]}x{self.size[1]}"
        return text + (" +global" if self.global_context else "")


GLOBAL = "global"  # marker: depends on the whole image, no spatial layout left


@dataclass(frozen=True)
class LayerReceptiveField:
    """One row of `receptive_fields`.

    Attributes:
        name: module name (as `Backbone.layer_names()`).
        layer_type: the module's class name.
        output_shape: output shape with the batch dimension (first tensor if several).
        field: the receptive field; None when the output is global (no spatial layout) or
            produced by an operation transferlab does not know how to trace.
        is_global: the output depends on the whole image (global pooling, dense layers).
    """

    name: str
    layer_type: str
    output_shape: tuple[int, ...]
    field: ReceptiveField | None
    is_global: bool

    def describe(self) -> str:
        """The field size for a table: "196", "7x1", "global", or "?" when it could not be traced."""
        if self.field is not None:
            return self.field.describe()
        return "global" if self.is_global else "?"

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        field = self.field
        return {
            "name": self.name,
            "layer_type": self.layer_type,
            "output_shape": list(self.output_shape),
            "size": list(field.size) if field else None,
            "jump": list(field.jump) if field else None,
            "start": list(field.start) if field else None,
            "global_context": bool(field and field.global_context),
            "global": self.is_global,
        }


def receptive_fields(model: nn.Module, input_size: int, in_channels: int = 3) -> list[LayerReceptiveField]:
    """The receptive field of every layer that runs, traced on one (1, C, S, S) zero input.

    Works on any device, the meta device included (nothing is computed there). Names are
    relative to the network's layer namespace: a `Backbone`'s or `Classifier`'s `body`.

    Args:
        model: a network, `Backbone` or `Classifier`; its train/eval flags are left as they were.
        input_size: side of the square input.
        in_channels: input channels.

    Returns:
        One row per module that ran, in `named_modules` order (the summary's order).
    """
    root = layer_root(model)
    traced: dict[str, tuple[str, tuple[int, ...], object]] = {}
    with _eval_mode(model), torch.no_grad(), _record_fields(root, traced):
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        image = torch.zeros(1, in_channels, input_size, input_size, device=device, dtype=dtype)
        setattr(image, _ATTR, ReceptiveField((1, 1), (1, 1), (0.0, 0.0)))
        with _FieldMode():
            model(image)
    return [_row(name, module, traced[name]) for name, module in root.named_modules() if name in traced]


def receptive_field_of(model: nn.Module, layer: str, input_size: int, in_channels: int = 3) -> ReceptiveField:
    """The receptive field of one named layer.

    Raises:
        UnknownNameError: no such layer (the closest names are listed).
        ValueError: the layer does not run, has no spatial output, or could not be traced.
    """
    resolve_layer(layer_root(model), layer)
    rows = {row.name: row for row in receptive_fields(model, input_size, in_channels)}
    if layer not in rows:
        raise ValueError(f"layer '{layer}' does not run in the forward pass")
    if rows[layer].field is None:
        raise ValueError(f"layer '{layer}' has no traceable spatial receptive field ({rows[layer].describe()})")
    return rows[layer].field


# -- the tracing mode --------------------------------------------------------------------------


class _FieldMode(TorchFunctionMode):
    """Propagates receptive fields from the inputs of every torch call to its outputs."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        sources = [getattr(t, _ATTR) for t in _tensors((args, kwargs)) if hasattr(t, _ATTR)]
        if not sources:
            return out
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if isinstance(first, torch.Tensor):
            _tag(first, _propagate(getattr(func, "__name__", ""), args, kwargs, sources, first))
        return out


def _propagate(name: str, args: tuple, kwargs: dict, sources: list, out: torch.Tensor):
    """The field of `out`, produced by the torch function `name` from `sources`."""
    if any(s is None for s in sources):
        return None
    spatial = [s for s in sources if isinstance(s, ReceptiveField)]
    if not spatial:
        return GLOBAL
    if out.dim() != 4:
        return GLOBAL
    field = _union(spatial)
    if len(spatial) < len(sources):
        field = ReceptiveField(field.size, field.jump, field.start, True)
    rule = _RULES.get(name)
    if rule is not None:
        return rule(field, name, _input_of(args, kwargs), args, kwargs, out)
    before = _input_of(args, kwargs)
    if before is None or before.dim() != 4 or before.shape[-2:] == out.shape[-2:]:
        return field  # element-wise, normalisation, activation, cat on channels...
    return GLOBAL if tuple(out.shape[-2:]) == (1, 1) else None


def _union(fields: list[ReceptiveField]) -> ReceptiveField:
    """The smallest field covering all `fields` (unit 0 of each): merges parallel branches."""
    sizes, starts = [], []
    for axis in (0, 1):
        low = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        high = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        sizes.append(int(round(high - low + 1)))
        starts.append((low + high) / 2)
    jump = tuple(max(f.jump[axis] for f in fields) for axis in (0, 1))
    context = any(f.global_context for f in fields)
    return ReceptiveField((sizes[0], sizes[1]), jump, (starts[0], starts[1]), context)


def _window(field: ReceptiveField, kernel, stride, padding, dilation) -> ReceptiveField:
    """The chain rule for one sliding window (conv or pool)."""
    size, jump, start = [], [], []
    for axis in (0, 1):
        span = dilation[axis] * (kernel[axis] - 1)
        size.append(field.size[axis] + span * field.jump[axis])
        start.append(field.start[axis] + (span / 2 - padding[axis]) * field.jump[axis])
        jump.append(field.jump[axis] * stride[axis])
    return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]), field.global_context)


def _conv_rule(field, name, x, args, kwargs, out):
    weight = _arg(args, kwargs, 1, "weight")
    kernel = tuple(weight.shape[-2:])
    stride = _pair(_arg(args, kwargs, 3, "stride", 1))
    dilation = _pair(_arg(args, kwargs, 5, "dilation", 1))
    padding = _arg(args, kwargs, 4, "padding", 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # PyTorch puts the odd pixel at the end, so the start uses the floor
        padding = tuple(dilation[a] * (kernel[a] - 1) // 2 for a in (0, 1))
    return _window(field, kernel, stride, _pair(padding), dilation)


def _pool_rule(field, name, x, args, kwargs, out):
    kernel = _pair(_arg(args, kwargs, 1, "kernel_size"))
    stride = _arg(args, kwargs, 2, "stride", None)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    padding = _pair(_arg(args, kwargs, 3, "padding", 0))
    # avg_pool2d's 5th argument is ceil_mode, not a dilation
    dilation = _pair(_arg(args, kwargs, 4, "dilation", 1)) if name.startswith("max") else (1, 1)
    return _window(field, kernel, stride, padding, dilation)


def _adaptive_rule(field, name, x, args, kwargs, out):
    if tuple(out.shape[-2:]) == (1, 1):
        return GLOBAL
    size_in, size_out = x.shape[-2:], out.shape[-2:]
    if any(size_in[a] % size_out[a] for a in (0, 1)):
        return None  # overlapping adaptive windows: no single kernel and stride
    kernel = tuple(size_in[a] // size_out[a] for a in (0, 1))
    return _window(field, kernel, kernel, (0, 0), (1, 1))


def _pad_rule(field, name, x, args, kwargs, out):
    pad = list(_arg(args, kwargs, 1, "pad"))
    if len(pad) < 4:
        pad += [0] * (4 - len(pad))
    left, top = pad[0], pad[2]  # F.pad lists the last dimension first: (left, right, top, bottom)
    start = (field.start[0] - top * field.jump[0], field.start[1] - left * field.jump[1])
    return ReceptiveField(field.size, field.jump, start, field.global_context)


_RULES = {
    "conv2d": _conv_rule,
    "max_pool2d": _pool_rule,
    "max_pool2d_with_indices": _pool_rule,
    "avg_pool2d": _pool_rule,
    "adaptive_avg_pool2d": _adaptive_rule,
    "adaptive_max_pool2d": _adaptive_rule,
    "pad": _pad_rule,
}


# -- plumbing ----------------------------------------------------------------------------------


def _record_fields(root: nn.Module, traced: dict) -> contextlib.AbstractContextManager:
    """Hooks on every module of `root` that note the field of its output (first call kept, as
    `capture`; read when the module returns, before a later in-place op retags the tensor)."""

    def make_hook(name: str):
        def hook(module, _inputs, output):
            first = output[0] if isinstance(output, (tuple, list)) and output else output
            if name not in traced and isinstance(first, torch.Tensor):
                traced[name] = (type(module).__name__, tuple(first.shape), getattr(first, _ATTR, None))

        return hook

    return hooked((m, make_hook(n)) for n, m in root.named_modules() if n)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _row(name: str, module: nn.Module, traced: tuple) -> LayerReceptiveField:
    layer_type, shape, field = traced
    return LayerReceptiveField(
        name=name,
        layer_type=layer_type,
        output_shape=shape,
        field=field if isinstance(field, ReceptiveField) else None,
        is_global=field == GLOBAL,
    )


def _tag(tensor: torch.Tensor, field) -> None:
    try:
        setattr(tensor, _ATTR, field)
    except (AttributeError, RuntimeError):  # a tensor subclass without a __dict__: not traced
        pass


def _tensors(obj):
    """Every tensor inside nested tuples, lists and dicts."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _input_of(args: tuple, kwargs: dict) -> torch.Tensor | None:
    first = args[0] if args else kwargs.get("input")
    if isinstance(first, (tuple, list)):  # torch.cat([a, b], 1)
        first = next(iter(_tensors(first)), None)
    return first if isinstance(first, torch.Tensor) else None


def _arg(args: tuple, kwargs: dict, index: int, name: str, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def _span(centre: float, size: int, limit: int) -> tuple[int, int]:
    low = math.floor(centre - (size - 1) / 2 + 1e-9)
    high = math.floor(centre + (size - 1) / 2 + 1e-9) + 1
    return max(0, low), min(limit, max(high, 0))
