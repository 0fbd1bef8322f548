"""`make demo`: train on a built-in dataset, then print the raw-pixel baseline it has to beat.

The baseline is a logistic regression on the raw pixels (scikit-learn; pixels / 255,
standardised), fitted on exactly the training images the run trained on, its C chosen on the
run's validation split, scored on the same test split. Everything after `--` goes to
`transferlab train` (the data set is its first argument).

Usage: python bench/demo.py [--baseline-only] -- DATA [train flags...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferlab.cli.main import main as transferlab
from transferlab.data import load_splits
from transferlab.paths import RunDir

CS = (0.01, 0.1, 1.0)  # on mnist5k, digits and lfw-faces the best C is inside this grid


def _pixels(images) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([np.asarray(Image.open(p).convert("L"), dtype=np.float32).ravel() / 255.0 for p in images.paths])
    return x, np.asarray(images.labels)


def pixel_baseline(data: str, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Validation and test accuracy of the raw-pixel logistic regression, C chosen on validation."""
    splits = load_splits(data, val_fraction, seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (_pixels(s) for s in (splits.train, splits.val, splits.test))
    start, scored = time.perf_counter(), []
    for c in CS:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x_train, y_train)
        scored.append((model.score(x_val, y_val), -c, model))  # ties: the stronger regularisation
    val_acc, neg_c, model = max(scored, key=lambda item: item[:2])
    return {"C": -neg_c, "val_accuracy": val_acc, "test_accuracy": model.score(x_test, y_test),
            "train_images": len(y_train), "test_images": len(y_test), "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-only", action="store_true", help="print the baseline, train nothing")
    parser.add_argument("train", nargs=argparse.REMAINDER, help="-- DATA and `transferlab train` flags")
    args = parser.parse_args(argv)
    train_argv = [a for a in args.train if a != "--"]
    data = train_argv[0]
    summary = None
    if not args.baseline_only:
        start = time.perf_counter()
        code = transferlab(["train", *train_argv])
        if code:
            return code
        seconds = time.perf_counter() - start
        summary = json.loads((_out_of(train_argv) / "summary.json").read_text())
    base = pixel_baseline(data)
    print("\nthe same split, two ways:")
    print(f"raw-pixel logistic regression (C={base['C']:g}, {base['train_images']} training images): "
          f"val {base['val_accuracy']:.4f}  test {base['test_accuracy']:.4f}  ({base['seconds']:.1f}s)")
    if summary is not None:
        chosen = summary["details"].get("chosen_strategy", summary["strategy"])
        layer = summary["details"].get("decision", {}).get("settings", {}).get("layer") or summary.get("layer")
        where = f" at {layer}" if layer else ""
        print(f"transferlab train {' '.join(train_argv)}: {chosen}{where} on {summary['backbone']}: "
              f"val {summary['val']['accuracy']:.4f}  test {summary['test']['accuracy']:.4f}  ({seconds:.0f}s)")
    return 0


def _out_of(train_argv: list[str]) -> Path:
    """The run directory `transferlab train` writes for these flags."""
    if "--out" in train_argv:
        return Path(train_argv[train_argv.index("--out") + 1])
    strategy = train_argv[train_argv.index("--strategy") + 1] if "--strategy" in train_argv else "auto"
    return RunDir.default(train_argv[0], strategy).root


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
