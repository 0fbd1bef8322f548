"""`transferlab ladder DATA`: the notes' ladder of strategies on one dataset, compared in one table."""

from __future__ import annotations

import argparse
import sys

from . import _common

EXAMPLES = (
    "ladder digits --budget 3m                      # the demo: what transfer learning buys",
    "ladder photos/ --out runs/ladder-photos",
    "ladder photos/ --rungs scratch,linear,finetune --epochs-scale 0.5",
    "ladder photos/ --out runs/ladder-photos --resume   # finished rungs are kept",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..strategies.ladder import RUNG_NAMES

    parser = _common.add_subcommand(
        subparsers, "ladder", "train the notes' ladder of strategies and compare them",
        "Train, one after the other on the same data and validation set, the rungs of the notes' "
        f"ladder ({', '.join(RUNG_NAMES)}) and compare validation (and test) accuracy, trainable "
        "parameters and wall time. Each rung is a run directory OUT/<rung>/; OUT/ladder.md, "
        "ladder.json and ladder.png hold the comparison.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    parser.add_argument("--out", help="ladder folder (default: runs/ladder-<data>)")
    parser.add_argument("--rungs", help=f"comma-separated subset, in ladder order (default: {','.join(RUNG_NAMES)})")
    parser.add_argument("--resume", action="store_true", help="keep finished rungs, continue an interrupted one")
    time_group = parser.add_mutually_exclusive_group()
    time_group.add_argument("--budget", help="wall time for the rungs to run (90s, 10m, 1h30m): epochs shrink to fit")
    time_group.add_argument("--epochs-scale", type=float, default=1.0,
                            help="multiply every rung's epochs (and augmented views) by this")
    transfer = parser.add_argument_group("transfer rungs")
    transfer.add_argument("--backbone", default="efficientnet_lite0", help="registered backbone (transferlab backbones)")
    transfer.add_argument("--weights", default="imagenet", help="imagenet | none | path to a weights file")
    transfer.add_argument("--input-size", type=int, help="input side (default: the backbone's)")
    scratch = parser.add_argument_group("scratch rungs")
    scratch.add_argument("--scratch-model", default="cats-dogs-small", help="recipe or spec of the scratch rung")
    scratch.add_argument("--scratch-aug-model", default="cats-dogs-small-dropout",
                         help="recipe or spec of the scratch-aug rung")
    scratch.add_argument("--scratch-size", type=int,
                         help="input side (default: the recipe's 150 px, less for smaller images)")
    common = parser.add_argument_group("every rung")
    common.add_argument("--batch-size", type=int, default=32)
    common.add_argument("--val-fraction", type=float, default=0.2, help="held out per class when there is no val/")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    common.add_argument("--workers", type=int, help="DataLoader worker processes (default: as train)")
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..advise.budget import parse_budget
    from ..reports import write_report_safely
    from ..strategies.ladder import KAGGLE_WINNER, LadderOptions, run_ladder
    from ..strategies.ladder.rungs import NOTES_SETUP
    from ..strategies.ladder.report import HEADER, RIGHT, table_rows

    options = LadderOptions(
        data=args.data, backbone=args.backbone, weights=args.weights, input_size=args.input_size,
        scratch_model=args.scratch_model, scratch_aug_model=args.scratch_aug_model, scratch_size=args.scratch_size,
        epochs_scale=args.epochs_scale, budget_seconds=parse_budget(args.budget) if args.budget else None,
        batch_size=args.batch_size, val_fraction=args.val_fraction, seed=args.seed, device=args.device,
        workers=args.workers,
    )
    try:
        result = run_ladder(options, args.out, args.rungs, progress=_common.progress_enabled(args), resume=args.resume,
                            on_saved=write_report_safely)
    except KeyboardInterrupt:
        out = args.out or "the ladder folder"
        _common.report_error(f"interrupted; finished rungs are saved: rerun the same command with --out {out} --resume")
        return 130
    if args.json:
        _common.print_json({"out": str(result.out), "plan": result.plan.to_dict(),
                            "rungs": [r.to_dict() for r in result.results]})
    else:
        rows = table_rows(list(result.results))
        sys.stdout.write(_common.format_table(HEADER, rows, right=RIGHT) + "\n")
        sys.stdout.write(f"notes (dogs/cats): {NOTES_SETUP}; Kaggle winner (25,000 photos): {KAGGLE_WINNER:.4f}\n")
        sys.stdout.write(f"comparison: {result.out / 'ladder.md'}, {result.out / 'ladder.png'}\n")
        for failed in result.failed:
            sys.stdout.write(f"{failed.name} failed: {failed.error}\n")
    return _common.EXIT_PARTIAL if result.failed else _common.EXIT_OK
