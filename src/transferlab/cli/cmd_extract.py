"""`transferlab extract`: the frozen base's features as a file to take elsewhere."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import _common

EXAMPLES = (
    "extract photos/ --out feats.safetensors",
    "extract steel/ --backbone resnet50 --layer layer3 --out layer3.npz",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "extract", "save pooled features of a frozen backbone",
        "Run the frozen conv base (to --layer, or its end) once over every image of DATA and\n"
        "write features, labels, paths and class names as .safetensors or .npz. Uses the\n"
        "feature cache, so a second extraction of unchanged images is instant.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV or built-in dataset name")
    parser.add_argument("--out", required=True, help="output file (.safetensors or .npz)")
    _common.add_backbone_arguments(parser)
    parser.add_argument("--layer", help="named layer to tap (default: end of the conv base)")
    parser.add_argument("--batch-size", type=int, default=64)
    _common.add_device_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..features.export import all_split_features, write_feature_file

    start = time.perf_counter()
    sets = all_split_features(args.data, _common.backbone_choice(args), args.layer,
                              _common.extraction_options(args, args.batch_size))
    out = write_feature_file(Path(args.out), sets)
    count = sum(len(s.features.labels) for s in sets)
    seconds = time.perf_counter() - start
    skipped = sum(len(s.features.skipped) for s in sets)
    sys.stdout.write(f"wrote {count} feature vectors to {out} in {seconds:.1f}s ({count / max(seconds, 1e-9):.0f} images/s)"
                     + (f"; skipped {skipped} unreadable files" if skipped else "") + "\n")
    return _common.EXIT_OK
