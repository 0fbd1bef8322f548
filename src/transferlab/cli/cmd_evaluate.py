"""`transferlab evaluate`: a trained run scored on any labelled folder."""

from __future__ import annotations

import argparse
import sys

from . import _common

EXAMPLES = ("evaluate runs/ft photos/test", "evaluate runs/ft photos/test --json")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "evaluate", "score a trained run on a labelled folder",
        "Accuracy, loss, per-class precision/recall/F1 and the confusion matrix of RUN_DIR's\n"
        "model on DATA (class folders with the run's class names, or a CSV).",
        EXAMPLES,
    )
    parser.add_argument("run_dir", help="a run directory written by 'transferlab train'")
    parser.add_argument("data", help="labelled images: root/<class>/* or a CSV with path,label")
    parser.add_argument("--confusion", help="also draw the confusion matrix to this PNG")
    _common.add_device_argument(parser)
    _common.add_tta_argument(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..api import load

    model = load(args.run_dir, device=args.device, engine=args.engine, tta=args.tta)
    evaluation = model.evaluate(args.data, progress=_common.progress_enabled(args))
    result, tta = evaluation.metrics, model.tta
    if args.confusion:
        from ..viz.render import plot_confusion

        plot_confusion(result.confusion, result.class_names, args.confusion)
    if args.json:
        skipped = [{"path": s.path, "reason": s.reason} for s in evaluation.skipped]
        _common.print_json({**result.to_dict(), "tta": tta, "skipped": skipped})
    else:
        sys.stdout.write(_text_report(result) + (f"\n(test-time augmentation: {tta})" if tta != "none" else "")
                         + "\n")
    return _common.EXIT_PARTIAL if evaluation.skipped else _common.EXIT_OK


def _text_report(result) -> str:
    rows = [(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", int(m["support"]))
            for name, m in result.per_class.items()]
    table = _common.format_table(("class", "precision", "recall", "f1", "support"), rows, right=(1, 2, 3, 4))
    return f"accuracy: {result.accuracy:.4f}  loss: {result.loss:.4f}  ({result.num_samples} images)\n{table}"
