"""Keras-style model summaries (layer, output shape, parameters, trainable) built with torchinfo.

Shapes are channels first, PyTorch's layout: `(None, C, H, W)`, `None` standing for the batch.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
import torchinfo
from torch import nn
from torchinfo.layer_info import LayerInfo
from torchinfo.torchinfo import clear_cached_forward_pass

from ..errors import TransferlabError

logger = logging.getLogger(__name__)

DEFAULT_DEPTH = 2  # every conv of a VGG, the blocks of a ResNet, the stages of an EfficientNet
_HEADER = ("Layer (type)", "Output Shape", "Param #", "Trainable")


@dataclass(frozen=True)
class SummaryRow:
    """One layer of a summary.

    Attributes:
        name: dotted module path relative to the summarised network (as `Backbone.layer_names()`).
        layer_type: the module's class name.
        output_shape: output shape with `None` for the batch; () when the layer never ran.
        params: parameters owned by this row: all of them at the depth limit or for a leaf,
            otherwise only those not shown in deeper rows (so rows add up to the total).
        trainable_params: how many of `params` have `requires_grad`.
        depth: nesting level, 1 for direct children of the network.
    """

    name: str
    layer_type: str
    output_shape: tuple
    params: int
    trainable_params: int
    depth: int

    @property
    def trainable(self) -> str:
        """"Y", "N", "partial", or "" for a layer without parameters."""
        if self.params == 0:
            return ""
        if self.trainable_params == self.params:
            return "Y"
        return "N" if self.trainable_params == 0 else "partial"


@dataclass(frozen=True)
class ModelSummary:
    """A model's layers and parameter counts, as Keras' `model.summary()`.

    Attributes:
        name: title of the table (usually the backbone's name).
        input_shape: `(None, C, H, W)`.
        rows: layers down to the requested depth, in forward order.
        total_params: every parameter of the model, shared ones counted once.
        trainable_params: parameters with `requires_grad=True`.
        non_trainable_params: the rest (frozen parameters).
        unused_params: parameters the forward pass never reached (e.g. a head left in place).
    """

    name: str
    input_shape: tuple
    rows: tuple[SummaryRow, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    unused_params: int = 0

    def to_text(self) -> str:
        """The table as text: layers, then total / trainable / non-trainable parameters."""
        cells = [("input (Input)", _shape_text(self.input_shape), "0", "")]
        cells += [
            (f"{r.name} ({r.layer_type})", _shape_text(r.output_shape), f"{r.params:,}", r.trainable)
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [_HEADER, *cells]) + 2 for i in range(4)]
        rule = "_" * sum(widths)

        def line(row) -> str:
            return "".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

        footer = [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]
        if self.unused_params:
            footer.append(f"Unused params (never reached by forward): {self.unused_params:,}")
        title = f'Model: "{self.name}" (channels first: (batch, channels, height, width))'
        table = [line(_HEADER), "=" * len(rule), *(line(row) for row in cells), "=" * len(rule)]
        return "\n".join([title, rule, *table, *footer, rule])

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (rows with their `trainable` flag)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["rows"] = [
            {**asdict(row), "output_shape": list(row.output_shape), "trainable": row.trainable}
            for row in self.rows
        ]
        return data


def model_summary(
    model: nn.Module,
    input_size: int,
    in_channels: int = 3,
    depth: int | None = DEFAULT_DEPTH,
    name: str | None = None,
) -> ModelSummary:
    """Summarise `model` by tracing one forward pass of a (1, C, S, S) zero input.

    A module whose only child is a container (such as `Backbone` around its `body`) is looked
    through: depth and names count from the inner network. A model on the meta device works
    too (same shapes and counts, nothing computed).

    Args:
        model: the network; its train/eval flags and weights are left unchanged.
        input_size: side of the square input.
        in_channels: input channels.
        depth: deepest nesting level listed (1: direct children); None lists every level.
        name: title of the table (default: `model.name` or the class name).

    Raises:
        TransferlabError: the input is too small or otherwise does not fit the model.
    """
    if depth is not None and depth < 1:
        raise TransferlabError(f"depth must be at least 1, not {depth}")
    stats = _trace(model, (1, in_channels, input_size, input_size))
    skip = _wrapper_levels(model)
    limit = None if depth is None else depth + skip
    rows = tuple(
        _row(info, skip, limit)
        for info in stats.summary_list
        if info.depth > skip and (limit is None or info.depth <= limit)
    )
    params = list(model.parameters())  # shared parameters appear once
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(
        name=name or str(getattr(model, "name", type(model).__name__)),
        input_shape=(None, in_channels, input_size, input_size),
        rows=rows,
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        unused_params=total - _reached_params(stats.summary_list),
    )


def _trace(model: nn.Module, shape: tuple[int, int, int, int]) -> torchinfo.ModelStatistics:
    # torchinfo restores one train/eval flag for the whole model; keep each module's own
    # (a frozen BatchNorm in eval inside a training model must stay in eval).
    modes = [(m, m.training) for m in model.modules()]
    param = next(model.parameters(), None)
    floating = param is not None and param.is_floating_point()
    data = torch.zeros(  # (1, C, S, S)
        shape,
        device=param.device if param is not None else "cpu",
        dtype=param.dtype if floating else torch.float32,
    )
    try:
        stats = torchinfo.summary(model, input_data=[data], mode="eval", verbose=0, depth=1)
    except RuntimeError as exc:
        cause = exc.__cause__ or exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise TransferlabError(
            f"cannot run the model on a {shape[1]}x{shape[2]}x{shape[3]} input: {first_line}"
        ) from None
    finally:
        for module, training in modes:
            module.training = training
        # torchinfo memoises every summary in a module-level dict, which would keep the model alive.
        clear_cached_forward_pass()
    return stats


def _reached_params(infos: list[LayerInfo]) -> int:
    """Parameters owned by modules that ran (torchinfo's own total also counts idle ones)."""
    reached = {
        id(p): p.numel()
        for info in infos
        if info.executed
        for p in info.module.parameters(recurse=False)
    }
    return sum(reached.values())


def _wrapper_levels(model: nn.Module) -> int:
    """How many single-child wrappers (without their own parameters) sit above the network."""
    levels, module = 0, model
    while True:
        children = list(module.children())
        own = any(True for _ in module.parameters(recurse=False))
        if len(children) != 1 or own or not any(True for _ in children[0].children()):
            return levels
        levels, module = levels + 1, children[0]


def _row(info: LayerInfo, skip: int, limit: int | None) -> SummaryRow:
    whole = info.is_leaf_layer or info.depth == limit
    if info.is_recursive:  # a module used twice: its parameters are on its first row
        params = trainable = 0
    elif whole:
        params, trainable = info.num_params, info.trainable_params
    else:
        params, trainable = info.leftover_params(), info.leftover_trainable_params()
    return SummaryRow(
        name=_path(info, skip),
        layer_type=info.class_name,
        output_shape=_keras_shape(info.output_size if info.executed else []),
        params=max(params, 0),
        trainable_params=max(trainable, 0),
        depth=info.depth - skip,
    )


def _path(info: LayerInfo, skip: int) -> str:
    names = []
    while info is not None and info.depth > skip:
        names.append(info.var_name)
        info = info.parent_info
    return ".".join(reversed(names))


def _keras_shape(size: list) -> tuple:
    if not size:
        return ()
    if isinstance(size[0], list):  # several outputs: the first one's shape
        return _keras_shape(size[0])
    return (None, *(int(s) for s in size[1:]))


def _shape_text(shape: tuple) -> str:
    if not shape:
        return "-"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"
