"""`transferlab advise DATA`: measure the data and recommend a strategy, with reasons and cost."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _common

EXAMPLES = (
    "advise photos/",
    "advise steel/ --budget 10m",
    "advise photos/ --backbone efficientnet_lite1 --json > advice.json",
    "advise photos/ --plot sweep.png",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "advise", "measure the data and recommend how to train on it",
        "Measure DATA against a pretrained backbone: images per class and imbalance, image sizes and "
        "modes, similarity to ImageNet (the ImageNet head's confidence, BatchNorm statistics, and a "
        "cross-validated depth sweep on the training split), then place it in the notes' 2x2 guide "
        "(small/large x similar/different) and recommend a strategy with its settings, the reasons, "
        "the candidates compared and the expected run time on this machine. Features computed here are "
        "cached, so `train` with the recommendation (or --strategy auto) reuses them.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    _common.add_backbone_arguments(parser, measured=True)
    parser.add_argument("--budget", help="time for advice and training, e.g. 90s, 10m, 1h: the plan fits it "
                                         "(default 10m)")
    parser.add_argument("--views", type=int, default=5, help="augmented views per image for features-aug")
    parser.add_argument("--plot", help="also draw the depth sweep to this PNG file")
    _common.add_split_arguments(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..advise import AdviseOptions, advise, parse_budget
    from ..advise.backbone_choice import alternative_backbones
    from ..advise.budget import DEFAULT_BUDGET
    from ..advise.text import format_advice
    from ..errors import TransferlabError

    budget = parse_budget(args.budget) if args.budget else DEFAULT_BUDGET
    if args.views < 1:
        raise TransferlabError(f"--views must be at least 1, not {args.views}")
    backbone = _common.backbone_choice(args)
    alternatives = alternative_backbones(backbone, fixed=True if args.backbone else None)
    options = AdviseOptions(budget, args.seed, args.val_fraction, args.views,
                            extraction=_common.extraction_options(args), alternatives=alternatives)
    advice = advise(args.data, backbone, options)
    if args.plot and advice.sweep is not None:
        from ..viz.render.advise import plot_depth_sweep

        rows = advice.sweep.rows
        plot_depth_sweep([r.label for r in rows], [r.cv_mean for r in rows], [r.cv_std for r in rows],
                         [r.dim for r in rows], Path(args.plot), chosen=advice.plan.settings.get("layer"),
                         title=f"Depth sweep - {advice.facts.name} ({advice.backbone})")
    if args.json:
        _common.print_json(advice.to_dict())
    else:
        sys.stdout.write(format_advice(advice) + "\n")
    return _common.EXIT_OK
