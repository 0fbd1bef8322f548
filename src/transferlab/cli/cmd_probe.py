"""`transferlab probe DATA`: the depth sweep, a cross-validated linear probe at every stage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import RUNS
from . import _common

EXAMPLES = (
    "probe photos/",
    "probe steel/ --plot steel-sweep.png",
    "probe photos/ --backbone vgg16 --json",
    "probe steel/ --layers blocks.2,blocks.4,end",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "probe", "accuracy by depth: which layer to cut at",
        "Pooled features from every stage of the backbone (one cached pass over the training split, all "
        "stages tapped at once), a standardised logistic probe on each, scored by stratified K-fold "
        "cross-validation on the training split only, and a plot of accuracy by depth with the best layer "
        "marked. The best layer is where to cut for `train --layer`, and the layers after it are the ones "
        "fine-tuning should unfreeze (`train --unfreeze-from`).",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    _common.add_backbone_arguments(parser)
    parser.add_argument("--layers", help="comma-separated layer names to probe ('end': end of the conv base); "
                                         "default: every stage")
    parser.add_argument("--plot", help="PNG file for the plot (default: runs/<data>-probe-<backbone>.png)")
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    _common.add_split_arguments(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..advise import AdviseOptions, probe_depths
    from ..advise.text import format_sweep
    from ..viz.render.advise import plot_depth_sweep

    layers = None
    if args.layers:
        layers = [None if name.strip() == "end" else name.strip() for name in args.layers.split(",") if name.strip()]
    options = AdviseOptions(seed=args.seed, val_fraction=args.val_fraction, extraction=_common.extraction_options(args))
    sweep, name = probe_depths(args.data, _common.backbone_choice(args), layers, options)
    plot = None
    if not args.no_plot:
        plot = Path(args.plot or RUNS / f"{Path(name).name}-probe-{args.backbone}.png")
        rows = sweep.rows
        plot_depth_sweep([r.label for r in rows], [r.cv_mean for r in rows], [r.cv_std for r in rows],
                         [r.dim for r in rows], plot, title=f"Depth sweep - {name} ({args.backbone})")
    if args.json:
        _common.print_json({**sweep.to_dict(), "data": name, "backbone": args.backbone,
                            "plot": str(plot) if plot else None})
    else:
        sys.stdout.write(format_sweep(sweep) + (f"\nplot: {plot}" if plot else "") + "\n")
    return _common.EXIT_OK
