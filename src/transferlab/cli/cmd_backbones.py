"""`transferlab backbones [PATTERN]`: the registered backbones, their size and weights status."""

from __future__ import annotations

import argparse
import logging

import torch

from ..backbones import create_backbone, get_backbone_spec, list_backbones, offline_weights_available
from ..errors import unknown_name
from . import _common

logger = logging.getLogger(__name__)

_HEADER = ("name", "params", "base params", "input", "source", "imagenet offline")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers,
        "backbones",
        summary="list the available backbones",
        description=(
            "List the registered backbones: parameters with the ImageNet classifier and without "
            "it (the conv base, --no-top), default input size, the library that builds them, and "
            "whether their ImageNet weights can be loaded offline right now."
        ),
        examples=["backbones", "backbones 'efficientnet*'", "backbones mobilenet --json"],
    )
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        metavar="PATTERN",
        help="shell-style pattern ('res*'); without wildcards, a substring of the name",
    )
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    names = _matching(args.pattern)
    rows = [_describe(name) for name in names]
    if args.json:
        _common.print_json(rows)
        return _common.EXIT_OK
    print(
        _common.format_table(
            _HEADER,
            (
                (
                    r["name"],
                    f"{r['params']:,}",
                    f"{r['base_params']:,}",
                    r["input_size"],
                    r["source"],
                    "yes" if r["imagenet_offline"] else "no",
                )
                for r in rows
            ),
            right=(1, 2, 3),
        )
    )
    return _common.EXIT_OK


def _matching(pattern: str) -> list[str]:
    glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    names = list_backbones(glob)
    if not names:
        raise unknown_name("backbone pattern", pattern, list_backbones())
    return names


def _describe(name: str) -> dict:
    spec = get_backbone_spec(name)
    return {
        "name": name,
        "params": _count_params(name, include_top=True),
        "base_params": _count_params(name, include_top=False),
        "input_size": spec.preprocessing.input_size,
        "source": spec.source,
        "imagenet_offline": offline_weights_available(spec),
    }


def _count_params(name: str, include_top: bool) -> int:
    # On the meta device nothing is allocated or initialised: VGG16 takes milliseconds, not seconds.
    with torch.device("meta"):
        backbone = create_backbone(name, weights="none", include_top=include_top)
    return sum(p.numel() for p in backbone.parameters())
