"""`transferlab evaluate`: a trained run scored on any labelled folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..data import load_splits
from ..errors import DataError
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
    parser.add_argument("--device", default="auto")
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_predictions
    from ..evaluation.predictions import predict_paths
    from ..strategies import load_model

    loaded = load_model(args.run_dir)
    images = _labelled_images(Path(args.data), loaded.classes)
    probs, paths, skipped = predict_paths(loaded.classifier, images.paths, loaded.preprocessing,
                                          device=args.device, progress=_common.progress_enabled(args))
    if not len(paths):
        raise DataError(f"{args.data}: no readable images to evaluate")
    label_of = dict(zip(images.paths, images.labels))
    labels = np.array([label_of[p] for p in paths])
    result = evaluate_predictions(labels, probs, list(loaded.classes), list(paths))
    for item in skipped:
        sys.stderr.write(f"{item}\n")
    if args.confusion:
        from ..viz.render import plot_confusion

        plot_confusion(result.confusion, list(loaded.classes), args.confusion)
    if args.json:
        _common.print_json({**result.to_dict(), "skipped": [{"path": s.path, "reason": s.reason} for s in skipped]})
    else:
        sys.stdout.write(_text_report(result) + "\n")
    return _common.EXIT_OK


def _labelled_images(data: Path, classes: tuple[str, ...]):
    """Every labelled image in `data`, labels mapped onto the run's classes."""
    from ..data.scan import read_csv, scan_class_folders

    if data.is_file():
        sets, _ = read_csv(data)
        found = next(iter(sets.values()))
        unknown = sorted(set(found.classes) - set(classes))
        if unknown:
            raise DataError(f"{data}: labels {unknown} are not classes of this model {list(classes)}")
        mapping = [classes.index(c) for c in found.classes]
        return found.__class__(found.paths, tuple(mapping[i] for i in found.labels), classes)
    if not data.is_dir():
        load_splits(str(data))  # raises the standard one-line error for a missing dataset
    images, _ = scan_class_folders(data, classes=classes)
    return images


def _text_report(result) -> str:
    rows = [(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", int(m["support"]))
            for name, m in result.per_class.items()]
    table = _common.format_table(("class", "precision", "recall", "f1", "support"), rows, right=(1, 2, 3, 4))
    return f"accuracy: {result.accuracy:.4f}  loss: {result.loss:.4f}  ({result.num_samples} images)\n{table}"
