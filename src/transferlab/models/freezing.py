"""Freezing and parameter groups by backbone stage, with an explicit BatchNorm policy.

BatchNorm policy: layers in frozen parts always run in eval mode (their running statistics
never change). In unfrozen parts, `bn_policy="frozen"` (the default, as Keras advises for
fine-tuning on small data) also keeps them in eval mode; `"train"` lets them update.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..backbones import Backbone
from ..errors import TransferlabError, unknown_name

BN_POLICIES = ("frozen", "train")


@dataclass(frozen=True)
class ParamGroup:
    """Backbone parameters of one stage segment, shallow to deep."""

    name: str
    param_names: tuple[str, ...]


def stage_groups(backbone: Backbone) -> list[ParamGroup]:
    """Partition the backbone's parameters into consecutive stage segments.

    A parameter belongs to the first stage whose module (with its children) comes at or
    after the parameter's module in forward order; parameters after the last stage (e.g.
    EfficientNet's conv_head) form a final `top` segment.
    """
    order = {name: i for i, (name, _) in enumerate(backbone.body.named_modules())}
    stage_ends = []
    for stage in backbone.stages:
        ends = [i for n, i in order.items() if n == stage or n.startswith(stage + ".")]
        stage_ends.append((stage, max(ends)))
    segments: dict[str, list[str]] = {}
    for name, _ in backbone.body.named_parameters():
        owner = order[name.rpartition(".")[0]]
        segment = next((stage for stage, end in stage_ends if owner <= end), "top")
        segments.setdefault(segment, []).append(name)
    return [ParamGroup(name, tuple(params)) for name, params in segments.items()]


def trainable_groups(
    backbone: Backbone, unfreeze: int | None = None, unfreeze_from: str | None = None
) -> list[ParamGroup]:
    """The last `unfreeze` stage groups, or every parameter from layer `unfreeze_from` on.

    `unfreeze=-1` (or larger than the number of stages) means all of them.
    """
    groups = stage_groups(backbone)
    if unfreeze_from is not None:
        return _groups_from_layer(backbone, groups, unfreeze_from)
    if unfreeze is None or unfreeze < 0 or unfreeze >= len(groups):
        return groups
    return groups[len(groups) - unfreeze :] if unfreeze > 0 else []


def freeze_except(backbone: Backbone, groups: list[ParamGroup]) -> None:
    """requires_grad only for parameters in `groups`."""
    keep = {n for g in groups for n in g.param_names}
    for name, param in backbone.body.named_parameters():
        param.requires_grad_(name in keep)


def apply_bn_policy(model: nn.Module, policy: str = "frozen") -> None:
    """Put BatchNorm layers in eval mode where the policy says their statistics stay fixed.

    Call after `model.train()` each epoch.
    """
    if policy not in BN_POLICIES:
        raise TransferlabError(f"bn policy '{policy}' is not one of {BN_POLICIES}")
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            trainable = any(p.requires_grad for p in module.parameters(recurse=False))
            if policy == "frozen" or not trainable:
                module.eval()


def _groups_from_layer(backbone: Backbone, groups: list[ParamGroup], layer: str) -> list[ParamGroup]:
    backbone.layer(layer)  # raises with close matches if unknown
    names = [n for n, _ in backbone.body.named_parameters()]
    first = next((i for i, n in enumerate(names) if n.startswith(layer + ".")), None)
    if first is None:
        raise unknown_name("layer with parameters", layer, _layers_with_params(backbone))
    later = set(names[first:])
    selected = []
    for group in groups:
        kept = tuple(n for n in group.param_names if n in later)
        if kept:
            selected.append(ParamGroup(group.name, kept))
    return selected


def _layers_with_params(backbone: Backbone) -> list[str]:
    return [n for n, m in backbone.body.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
