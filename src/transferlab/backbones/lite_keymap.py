"""Rename EfficientNet-PyTorch (lukemelas) state dicts onto timm's `tf_efficientnet_liteN`."""

from __future__ import annotations

import re

from torch import Tensor, nn

_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# The first block has no expansion conv (timm DepthwiseSeparableConv).
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.([^.]+)\.(.+)$")


def is_efficientnet_pytorch_state_dict(state_dict: dict[str, Tensor]) -> bool:
    """True when keys use EfficientNet-PyTorch names (`_conv_stem`, `_blocks.N...`)."""
    return any(k.startswith("_conv_stem.") for k in state_dict)


def timm_block_prefixes(model: nn.Module) -> list[str]:
    """`blocks.<stage>.<j>` for every block of a timm EfficientNet, in forward order."""
    return [f"blocks.{s}.{j}" for s, stage in enumerate(model.blocks) for j in range(len(stage))]


def map_lite_state_dict(state_dict: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Return `state_dict` renamed to the key names of the timm `model`."""
    blocks = timm_block_prefixes(model)
    mapped: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        mapped[_rename(key, blocks)] = value
    return mapped


def _rename(key: str, blocks: list[str]) -> str:
    match = _BLOCK_KEY.match(key)
    if match:
        index, module, rest = int(match.group(1)), match.group(2), match.group(3)
        table = _FIRST_BLOCK if index == 0 else _OTHER_BLOCKS
        return f"{blocks[index]}.{table[module]}.{rest}"
    module, _, rest = key.partition(".")
    return f"{_TOP_LEVEL[module]}.{rest}"
