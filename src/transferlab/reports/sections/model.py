"""The model section: what was built (base, features layer, head), its layers and parameters."""

from __future__ import annotations

import copy
import itertools

from torch import nn

from ...models.summary import model_summary
from ...strategies.registry import STRATEGIES
from ..collect import RunData
from ..document import Block, Facts, Table, Text
from ._format import number, scalar

SUMMARY_DEPTH = 2  # stages/blocks, not every conv of an EfficientNet
MAX_LAYER_ROWS = 40  # more rows than this start folded


def model(run: RunData) -> list[Block]:
    """Backbone, preprocessing, head and a layer table (Keras-style summary, limited depth)."""
    classifier, pre = run.model
    backbone = classifier.backbone
    channels = len(pre.mean)
    summary = model_summary(meta_copy(backbone), pre.input_size, in_channels=channels, depth=SUMMARY_DEPTH)
    head_params = sum(p.numel() for p in classifier.head.parameters()) if classifier.head is not None else 0
    facts = (
        ("backbone", str(backbone.name)),
        ("weights", scalar(getattr(backbone, "weights_id", None))),
        ("input", f"{channels} x {pre.input_size} x {pre.input_size} (channels, height, width)"),
        ("preprocessing", _preprocessing_text(pre)),
        ("features from", classifier.layer or "the end of the convolutional base, globally average-pooled"),
        ("head", _head_text(classifier.head)),
        ("trained", _trained_text(run)),
        ("parameters", f"{number(summary.total_params + head_params)} "
                       f"(base {number(summary.total_params)}, head {number(head_params)})"),
    )
    rows = tuple((r.name, r.layer_type, _shape(r.output_shape), number(r.params)) for r in summary.rows)
    blocks: list[Block] = [
        Facts(facts),
        Table(("layer", "type", "output shape", "parameters"), rows, numeric=(3,),
              title=f"Layers of {backbone.name} (depth {SUMMARY_DEPTH}; shapes (batch, C, H, W))",
              footer=("total", "", "", number(summary.total_params)), collapsed=len(rows) > MAX_LAYER_ROWS),
    ]
    if classifier.layer:
        blocks.append(Text(f"Only the layers up to {classifier.layer} feed the classifier; "
                           f"the later rows are computed by the full base but not used."))
    if classifier.head is not None:
        blocks.append(_head_table(classifier.head))
    return blocks


def meta_copy(module: nn.Module) -> nn.Module:
    """`module` on the meta device, without copying its weights: shapes and counts, no compute.

    Tracing the real model costs a forward pass (seconds for a big one on a busy CPU, and GPU
    memory during training); the summary needs neither values nor the device.
    """
    memo = {}
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        meta = tensor.detach().to("meta")
        memo[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(module, memo)


def _preprocessing_text(pre) -> str:
    mean = ", ".join(f"{m:.3f}" for m in pre.mean)
    std = ", ".join(f"{s:.3f}" for s in pre.std)
    return (f"RGB/255, shorter side to {pre.resize_size} ({pre.interpolation}), centre crop {pre.input_size}, "
            f"minus mean ({mean}), divided by std ({std})")


def _head_text(head) -> str:
    if head is None:
        return "none: the network's own top layers classify"
    if head.hidden:
        return (f"dense {head.in_features} -> {head.hidden}, ReLU, dropout {head.dropout:g}, "
                f"dense -> {head.num_classes} classes")
    return f"dropout {head.dropout:g}, dense {head.in_features} -> {head.num_classes} classes"


def _trained_text(run: RunData) -> str:
    name = run.strategy
    if name == "finetune":
        groups = (run.summary.get("details") or {}).get("unfrozen_groups") or []
        listed = ", ".join(map(str, groups)) or "none"
        return f"the head on the frozen base, then the head with these base groups: {listed}"
    known = STRATEGIES.get(name)
    return (known.trained if known else None) or "see the strategy section"


def _head_table(head: nn.Module) -> Table:
    rows, features = [], getattr(head, "in_features", None)
    for index, layer in enumerate(head.layers):
        if isinstance(layer, nn.Linear):
            features = layer.out_features
        params = sum(p.numel() for p in layer.parameters())
        rows.append((f"layers.{index}", type(layer).__name__, f"(None, {features})", number(params)))
    total = sum(p.numel() for p in head.parameters())
    return Table(("layer", "type", "output shape", "parameters"), tuple(rows), title="Head",
                 numeric=(3,), footer=("total", "", "", number(total)))


def _shape(shape: tuple) -> str:
    if not shape:
        return "-"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"
