"""`transferlab doctor DATA`: duplicates, leaks between splits, likely label errors and outliers."""

from __future__ import annotations

import argparse
import logging
import sys

from . import _common

log = logging.getLogger(__name__)

EXAMPLES = (
    "doctor photos/",
    "doctor photos/ --out doctor/              # HTML page with thumbnails of every finding",
    "doctor photos/ --json > findings.json",
    "doctor photos/ --write-clean photos/clean.csv && transferlab train photos/clean.csv",
    "doctor photos/ --write-clean photos/clean.csv --drop exact-duplicate,near-duplicate --relabel",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "doctor", "find duplicates, leaks between splits, wrong labels and outliers",
        "Check DATA from the cached pooled features of a pretrained backbone (every split): exact "
        "duplicates (same file bytes) and near duplicates (feature similarity; the threshold is checked on "
        "augmented copies), within a split and across splits (a val/test image also in train inflates every "
        "score: reported first); images whose label is likely wrong (out-of-fold probabilities of a "
        "cross-validated logistic probe, ranked by how confidently another class is predicted, with the "
        "suggested class); outliers (far from every class: wrong files, blank scans, another dataset); and "
        "what advise measures about the data (imbalance, tiny images, grey/colour mix). Files are never "
        "deleted or moved: --write-clean writes a path,label,split CSV to train on instead.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    _common.add_backbone_arguments(parser)
    parser.add_argument("--layer", help="layer whose features are compared (default: the end of the conv base)")
    parser.add_argument("--top", type=int, default=10, help="findings listed per kind (the HTML page shows 5x)")
    parser.add_argument("--out", help="folder for doctor.html (thumbnails of the findings) and doctor.json")
    parser.add_argument("--write-clean", metavar="CSV", help="write path,label,split of the data without the findings")
    parser.add_argument("--drop", default=",".join(("exact-duplicate", "near-duplicate", "label", "outlier")),
                        help="finding kinds --write-clean leaves out (comma-separated)")
    parser.add_argument("--relabel", action="store_true",
                        help="with --write-clean: give label findings their suggested class instead of dropping them")
    _common.add_split_arguments(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data import load_splits
    from ..doctor import KINDS, DoctorOptions, check_splits, clean_rows, write_clean
    from ..doctor.text import format_checkup
    from ..errors import TransferlabError

    if args.top < 1:
        raise TransferlabError(f"--top must be at least 1, not {args.top}")
    drop = [kind.strip() for kind in args.drop.split(",") if kind.strip()]
    unknown = sorted(set(drop) - set(KINDS))
    if unknown:
        raise TransferlabError(f"--drop: unknown finding kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    splits = load_splits(args.data, args.val_fraction, args.seed)
    base = _common.backbone_choice(args).create()
    options = DoctorOptions(args.layer, args.val_fraction, args.seed, _common.extraction_options(args))
    checkup = check_splits(splits, base, options)
    if args.write_clean:
        rows = clean_rows(checkup, splits, drop, relabel=args.relabel)
        path = write_clean(rows, args.write_clean)
        log.info("clean data: %s (%d of %d images)", path, len(rows), sum(checkup.images.values()))
    if args.out:
        from ..reports.doctor_page import write_checkup_page

        log.info("page: %s", write_checkup_page(checkup, args.out, top=5 * args.top))
    if args.json:
        _common.print_json(checkup.to_dict())
    else:
        sys.stdout.write(format_checkup(checkup, args.top) + "\n")
    return _common.EXIT_OK
