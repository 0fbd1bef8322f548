"""`transferlab lr-find DATA`: the learning-rate range test for fine-tuning, with a plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import OPTIMIZERS
from . import _common

EXAMPLES = (
    "lr-find photos/",
    "lr-find photos/ --unfreeze -1 --lr-mult 0.3 --out runs/photos-lr",
    "lr-find photos/ --backbone vgg16 --unfreeze-from features.24 --json",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "lr-find", "learning-rate range test: which --lr to fine-tune with",
        "Start where `train --strategy finetune` starts its phase 2 (the phase-1 logistic head on cached "
        "features, the same groups unfrozen at the same --lr-mult ratios, the same augmentation and batches), "
        "train ~100 mini-batches with the head's rate rising exponentially from 1e-7 to 10, stop once the "
        "smoothed loss exceeds 4x its minimum, and put the weights back. Suggests a tenth of the rate at the "
        "smoothed loss's minimum (--rule steepest: the rate of its steepest descent), and draws lr_find.png.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    _common.add_backbone_arguments(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--unfreeze", type=int, default=2, help="unfreeze the last N stage groups (-1: all)")
    which.add_argument("--unfreeze-from", help="unfreeze every layer from this named layer on")
    parser.add_argument("--lr-mult", type=float, default=0.5, help="rate multiplier per group going shallower")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    parser.add_argument("--bn-policy", default="frozen", choices=("frozen", "train"),
                        help="BatchNorm statistics in unfrozen parts (frozen parts are always frozen)")
    parser.add_argument("--augment", metavar="SPEC", help="training augmentation as `train --augment` (default: light)")
    parser.add_argument("--rule", default="min10", choices=("min10", "steepest"),
                        help="the suggestion: a tenth of the rate at the smoothed loss's minimum (default), or the "
                             "rate of its steepest descent (shallow and noisy from a fitted head)")
    parser.add_argument("--out", help="folder for lr_find.png and lr_find.json (default: runs/<data>-lr-find)")
    _common.add_split_arguments(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..errors import TransferlabError
    from ..paths import RunDir, atomic_write_text
    from ..strategies.lr_find import find_lr
    from ..viz.render.lr_find import plot_lr_find

    if not args.lr_mult > 0:
        raise TransferlabError(f"--lr-mult must be positive, not {args.lr_mult}")
    config = TrainConfig(data=args.data, strategy="finetune", backbone=args.backbone, weights=args.weights,
                         input_size=args.input_size, batch_size=args.batch_size, optimizer=args.optimizer,
                         unfreeze=args.unfreeze, unfreeze_from=args.unfreeze_from, lr_mult=args.lr_mult,
                         bn_policy=args.bn_policy, augment=args.augment, val_fraction=args.val_fraction,
                         seed=args.seed, device=args.device, engine=args.engine)
    out = Path(args.out) if args.out else RunDir.default(args.data, "lr-find").root
    bar = _StepBar(_common.progress_enabled(args))
    try:
        report = find_lr(config, out, progress=_common.progress_enabled(args), on_step=bar.step, rule=args.rule)
    finally:
        bar.close()
    result = report.result
    out.mkdir(parents=True, exist_ok=True)
    plot = plot_lr_find(result.rates, result.losses, result.suggestion, out / "lr_find.png", result.raw_losses,
                        result.rule, title=f"Learning-rate range test - {report.data} ({args.backbone})")
    summary = {**report.to_dict(), "backbone": args.backbone, "plot": str(plot)}
    atomic_write_text(out / "lr_find.json", json.dumps(summary, indent=2))
    if args.json:
        _common.print_json(summary)
    else:
        sys.stdout.write(_text(report, plot) + "\n")
    return _common.EXIT_OK


def _text(report, plot: Path) -> str:
    result = report.result
    rates = ", ".join(f"{name} {lr:.2g}" for name, lr in report.group_lrs.items())
    steepest = "none" if result.steepest is None else f"{result.steepest:.2g}"
    return "\n".join([
        f"lr-find: {report.data}  ({len(result.rates)} steps, {result.stopped}, {report.seconds:.1f}s)",
        f"start: {report.head}, val accuracy {report.head_val_acc:.3f}",
        f"suggested --lr: {result.suggestion:.2g} ({result.rule}); steepest descent {steepest}, "
        f"minimum / 10 {result.minimum_tenth:.2g}",
        f"group rates at the suggestion: {rates}",
        f"plot: {plot}",
    ])


class _StepBar:
    """A tqdm bar on stderr advanced by the range test's steps (nothing when disabled)."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm  # only needed on a terminal

            self.bar = tqdm(desc="lr-find", unit="step", file=sys.stderr, leave=False, dynamic_ncols=True)

    def step(self, step: int, rate: float, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"lr {rate:.1e} loss {loss:.3f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
